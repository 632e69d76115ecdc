"""The optimizer and learning-rate schedule tables of a spec's ``training`` entry.

One table per kind drives both the spec validation (which names exist, which keys each takes)
and the construction (:func:`make_optimizer`); adding an optimizer or a schedule is one
registration here.

Examples:
    >>> from kssd_zoo.optimizers import OPTIMIZERS, SCHEDULES
    >>> OPTIMIZERS.names(), SCHEDULES.names()
    (['adam', 'adamw', 'sgd'], ['constant', 'warmup_multistep'])
    >>> OPTIMIZERS.metadata("sgd")["keys"]
    ('momentum', 'nesterov', 'weight_decay', 'clipnorm', 'global_clipnorm')
"""

import keras

from kssd.registry import Registry

#: Optimizers: name -> Keras optimizer class, with the spec keys it accepts.
OPTIMIZERS = Registry("optimizer")
_ADAM_KEYS = ("beta_1", "beta_2", "epsilon", "weight_decay", "clipnorm", "global_clipnorm")
OPTIMIZERS.register(
    "sgd", keras.optimizers.SGD, keys=("momentum", "nesterov", "weight_decay", "clipnorm", "global_clipnorm")
)
OPTIMIZERS.register("adam", keras.optimizers.Adam, keys=_ADAM_KEYS)
OPTIMIZERS.register("adamw", keras.optimizers.AdamW, keys=_ADAM_KEYS)

#: Schedules: name -> ``build(args, steps_per_epoch)`` giving a learning rate or schedule.
SCHEDULES = Registry("schedule")
DEFAULT_STEPS_PER_EPOCH = 100
DEFAULT_LEARNING_RATE = 0.001


@SCHEDULES.register("constant", keys=("learning_rate",))
def constant_rate(args, steps_per_epoch):
    """A fixed learning rate (default :data:`DEFAULT_LEARNING_RATE`)."""
    return float(args.get("learning_rate", DEFAULT_LEARNING_RATE))


@SCHEDULES.register(
    "warmup_multistep",
    keys=("initial_learning_rate", "warmup_epochs", "decay_epochs", "decay_rate", "min_learning_rate"),
)
def warmup_multistep(args, steps_per_epoch):
    """Linear warm-up, then step decay at the given epochs (:class:`kssd.callbacks.WarmUpMultiStep`)."""
    from kssd.callbacks import WarmUpMultiStep

    return WarmUpMultiStep(
        initial_learning_rate=args.get("initial_learning_rate", 0.01),
        boundaries=[int(round(e * steps_per_epoch)) for e in args.get("decay_epochs", [])],
        decay_rate=args.get("decay_rate", 0.1),
        warmup_steps=int(round(args.get("warmup_epochs", 0) * steps_per_epoch)),
        min_learning_rate=args.get("min_learning_rate", 0.0),
    )


def make_optimizer(training, steps_per_epoch=None):
    """The Keras optimizer (with its LR schedule) described by a spec's ``training`` entry.

    Schedules are defined in epochs in the spec and converted to optimizer steps with
    ``steps_per_epoch`` (argument, else ``training.steps_per_epoch``, else 100).

    Args:
        training: the validated ``training`` dict.
        steps_per_epoch: steps per epoch, default None (see above).

    Returns:
        A ``keras.optimizers.Optimizer``.

    Examples:
        >>> from kssd_zoo.optimizers import make_optimizer
        >>> opt = make_optimizer({"optimizer": {"name": "adam"},
        ...                       "schedule": {"name": "constant", "learning_rate": 0.001}})
        >>> type(opt).__name__
        'Adam'
    """
    spe = int(steps_per_epoch or training.get("steps_per_epoch") or DEFAULT_STEPS_PER_EPOCH)
    schedule = dict(training.get("schedule") or {"name": "constant"})
    learning_rate = SCHEDULES.get(schedule.pop("name"))(schedule, spe)
    optimizer = dict(training.get("optimizer") or {"name": "sgd"})
    cls = OPTIMIZERS.get(optimizer.pop("name"))
    return cls(learning_rate=learning_rate, **{k: v for k, v in optimizer.items() if v is not None})


def initial_learning_rate(training):
    """The learning rate a spec's ``training`` entry starts from (after any warm-up).

    Examples:
        >>> from kssd_zoo.optimizers import initial_learning_rate
        >>> initial_learning_rate({"schedule": {"name": "warmup_multistep", "initial_learning_rate": 0.02}})
        0.02
        >>> initial_learning_rate({})
        0.001
    """
    schedule = dict(training.get("schedule") or {"name": "constant"})
    if schedule["name"] == "warmup_multistep":
        return float(schedule.get("initial_learning_rate", 0.01))
    return float(schedule.get("learning_rate", DEFAULT_LEARNING_RATE))
