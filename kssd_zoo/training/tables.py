"""Plain-text result tables for ``kssd train`` / ``kssd evaluate``."""


def results_table(metrics, title=None):
    """A plain-text two-column table of metric values.

    Examples:
        >>> from kssd_zoo.training import results_table
        >>> print(results_table({"mAP": 0.5}))
        metric  value
        mAP    0.5000
    """
    width = max([len("metric")] + [len(k) for k in metrics])
    lines = [title] if title else []
    lines.append(f"{'metric':<{width}} {'value':>6}")
    lines += [f"{k:<{width}} {v:>6.4f}" for k, v in metrics.items()]
    return "\n".join(lines)
