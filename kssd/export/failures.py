"""Helpers shared by the exporters: naming the layers a converter could not export."""

import re


def layer_names(model):
    """All layer names of a model, nested models included."""
    names = []
    for layer in getattr(model, "layers", []):
        names.append(layer.name)
        names.extend(layer_names(layer))
    return names


def describe_failure(error, model, fmt):
    """A message naming the layer(s) and op(s) that a converter could not export."""
    text = str(error)
    ops = sorted(
        set(re.findall(r"'tf\.(\w+)' op is neither", text))
        | set(re.findall(r"TF Select ops: ([\w, ]+)", text))
    )
    found = [n for n in layer_names(model) if re.search(rf"(^|[/\"@ ]){re.escape(n)}(_\d+)?[/@\"]", text)]
    # the innermost layer is the most specific; keep the order of the model
    where = f"layer(s) {', '.join(repr(n) for n in found)}" if found else "an unidentified layer"
    what = f" (ops not supported: {', '.join(ops)})" if ops else ""
    first_line = text.strip().splitlines()[0][:300] if text.strip() else type(error).__name__
    return f"cannot export {model.name!r} to {fmt}: {where}{what}. Converter said: {first_line}"
