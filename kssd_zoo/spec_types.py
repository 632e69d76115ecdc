"""Typed form of a validated zoo spec: what :func:`kssd_zoo.spec.parse_spec` returns.

A :class:`ModelSpec` is only ever made from a spec that passed validation, so the builder and
the :class:`kssd_zoo.Detector` take it without checking again; :meth:`ModelSpec.to_dict` gives
the plain YAML-shaped dict back (what ``Detector.spec`` and ``get_config`` hold).

Examples:
    >>> from kssd_zoo.spec import parse_spec
    >>> spec = parse_spec("face_ssd")
    >>> spec.input.image_size, spec.heads.sources, spec.training.optimizer.name
    ((240, 320), ('branch_1', 'branch_2', 'branch_3', 'branch_4'), 'sgd')
    >>> parse_spec(spec.to_dict()) == spec
    True
"""

import copy
from dataclasses import dataclass, field


@dataclass(frozen=True)
class InputSpec:
    """``input``: the image shape ``(h, w, c)`` (h, w may be None) and whether any size runs."""

    shape: tuple
    dynamic: bool

    @property
    def image_size(self):
        """``(h, w)``, or None when the spec leaves the size open."""
        height, width = self.shape[0], self.shape[1]
        return None if height is None or width is None else (int(height), int(width))


@dataclass(frozen=True)
class NodeSpec:
    """One ``backbone`` node: a registered block applied to the output of ``source``."""

    name: str
    block: str
    source: object  # a node name, or a list of names for blocks taking several inputs
    args: dict = field(default_factory=dict)


@dataclass(frozen=True)
class HeadSpec:
    """``heads``: the head block and the node feeding each detection level."""

    block: str
    sources: tuple
    args: dict = field(default_factory=dict)


@dataclass(frozen=True)
class NamedSpec:
    """A table entry chosen by name with its arguments (optimizer, schedule)."""

    name: str
    args: dict = field(default_factory=dict)

    def to_dict(self):
        return {"name": self.name, **copy.deepcopy(self.args)}


@dataclass(frozen=True)
class TrainingSpec:
    """``training``: batch, epochs, optimizer, schedule, loss and augmentation."""

    batch_size: int
    epochs: int
    steps_per_epoch: object
    optimizer: NamedSpec
    schedule: NamedSpec
    loss: dict
    augmentation: str
    batch_norm_momentum: object = None
    extra: dict = field(default_factory=dict)  # keys kept as written (none today)

    def to_dict(self):
        out = {
            "batch_size": self.batch_size,
            "epochs": self.epochs,
            "steps_per_epoch": self.steps_per_epoch,
            "optimizer": self.optimizer.to_dict(),
            "schedule": self.schedule.to_dict(),
            "loss": copy.deepcopy(self.loss),
            "augmentation": self.augmentation,
        }
        if self.batch_norm_momentum is not None:
            out["batch_norm_momentum"] = self.batch_norm_momentum
        out.update(copy.deepcopy(self.extra))
        return out


# Top-level keys that are optional and kept only when the spec gives them.
_OPTIONAL_KEYS = ("pretrained_backbone", "license", "references", "box_coding")


@dataclass(frozen=True)
class ModelSpec:
    """A validated spec with every default filled in (see the spec guide for each key)."""

    name: str
    description: str
    input: InputSpec
    normalization: object
    num_classes: int
    class_names: tuple
    backbone: tuple
    heads: HeadSpec
    anchors: dict
    variances: tuple
    match_threshold: float
    matching: str
    negative_threshold: object
    postprocess: dict
    training: TrainingSpec
    optional: dict = field(default_factory=dict)  # pretrained_backbone, license, references, box_coding

    @property
    def box_coding(self):
        """``"ssd"`` (default) or ``"linear"`` (the spec's optional ``box_coding`` key)."""
        return self.optional.get("box_coding", "ssd")

    @classmethod
    def from_validated(cls, spec):
        """The typed form of the dict :func:`kssd_zoo.spec.validate_spec` returns."""
        spec = copy.deepcopy(spec)
        training = dict(spec["training"])
        optimizer = dict(training.pop("optimizer"))
        schedule = dict(training.pop("schedule"))
        known = ("batch_size", "epochs", "steps_per_epoch", "loss", "augmentation", "batch_norm_momentum")
        return cls(
            name=spec["name"],
            description=spec["description"],
            input=InputSpec(tuple(spec["input"]["shape"]), bool(spec["input"]["dynamic"])),
            normalization=spec["normalization"],
            num_classes=int(spec["num_classes"]),
            class_names=tuple(spec["class_names"]),
            backbone=tuple(NodeSpec(n["name"], n["block"], n["from"], n["args"]) for n in spec["backbone"]),
            heads=HeadSpec(spec["heads"]["block"], tuple(spec["heads"]["from"]), spec["heads"]["args"]),
            anchors=spec["anchors"],
            variances=tuple(spec["variances"]),
            match_threshold=spec["match_threshold"],
            matching=spec["matching"],
            negative_threshold=spec["negative_threshold"],
            postprocess=spec["postprocess"],
            training=TrainingSpec(
                batch_size=training.pop("batch_size"),
                epochs=training.pop("epochs"),
                steps_per_epoch=training.pop("steps_per_epoch"),
                optimizer=NamedSpec(optimizer.pop("name"), optimizer),
                schedule=NamedSpec(schedule.pop("name"), schedule),
                loss=training.pop("loss"),
                augmentation=training.pop("augmentation"),
                batch_norm_momentum=training.pop("batch_norm_momentum", None),
                extra={k: v for k, v in training.items() if k not in known},
            ),
            optional={k: spec[k] for k in _OPTIONAL_KEYS if k in spec},
        )

    def to_dict(self):
        """The plain YAML-shaped dict (a deep copy), as ``validate_spec`` returns it."""
        out = {
            "name": self.name,
            "description": self.description,
            "input": {"shape": list(self.input.shape), "dynamic": self.input.dynamic},
            "normalization": copy.deepcopy(self.normalization),
            "num_classes": self.num_classes,
            "class_names": list(self.class_names),
            "backbone": [
                {
                    "name": n.name,
                    "block": n.block,
                    "from": copy.deepcopy(n.source),
                    "args": copy.deepcopy(n.args),
                }
                for n in self.backbone
            ],
            "heads": {
                "block": self.heads.block,
                "from": list(self.heads.sources),
                "args": copy.deepcopy(self.heads.args),
            },
            "anchors": copy.deepcopy(self.anchors),
            "variances": list(self.variances),
            "match_threshold": self.match_threshold,
            "matching": self.matching,
            "negative_threshold": self.negative_threshold,
            "postprocess": copy.deepcopy(self.postprocess),
            "training": self.training.to_dict(),
        }
        out.update(copy.deepcopy(self.optional))
        return out
