"""``kssd data``: convert datasets to TFRecords and print dataset statistics.

``kssd data convert [--format READER] SRC --out DIR`` (a name of
:data:`kssd.data.readers.READERS`) writes sharded
kssd TFRecords (``<split>-00000-of-0000N.tfrecord`` + ``dataset.json``) for every
split found under SRC (or the ``--split`` ones), with a progress bar and a summary table
of what was written, skipped, dropped and clipped.

``kssd data stats SRC [--model NAME]`` prints the box-size histogram and, given a model
(or ``--image-size`` for the histogram alone), the anchor coverage per size bucket.
"""

import os
import sys

# Light at import time (``kssd data --help`` needs no TensorFlow): the choices are copies of
# kssd's registries; the run functions import kssd.
from kssd_zoo.cli._choices import CLASS_NAME_FORMATS, MATCHING_STRATEGIES, READER_FORMATS, SOURCE_FORMATS


def add_parser(subparsers):
    """Register ``kssd data`` with its ``convert`` and ``stats`` subcommands."""
    parser = subparsers.add_parser(
        "data",
        help="convert datasets to TFRecords, dataset statistics",
        description="Dataset tools: conversion to sharded TFRecords and statistics.",
    )
    sub = parser.add_subparsers(dest="data_command", metavar="{convert,stats}")
    parser.set_defaults(func=lambda args: _no_subcommand(parser))

    convert = sub.add_parser(
        "convert",
        help="convert a dataset to sharded kssd TFRecords",
        description="Convert a dataset in its usual layout to sharded kssd TFRecords. "
        "Unreadable images are skipped and counted; boxes are clipped to the "
        "image and empty boxes dropped, all counted in the summary.",
    )
    convert.add_argument("source", metavar="SRC", help="dataset root in the format's layout")
    convert.add_argument(
        "--format",
        choices=READER_FORMATS,
        default=None,
        help="source format (default: detected from the layout)",
    )
    convert.add_argument("--out", required=True, metavar="DIR", help="output directory")
    convert.add_argument(
        "--split",
        action="append",
        default=None,
        metavar="SPLIT",
        help="split to convert; repeat or comma-separate for several (default: every split present)",
    )
    convert.add_argument(
        "--num-shards", type=int, default=1, metavar="N", help="shards per split (default: 1)"
    )
    convert.add_argument(
        "--overwrite", action="store_true", help="replace existing shards of the converted splits"
    )
    convert.add_argument(
        "--class-names",
        default=None,
        metavar="NAMES",
        help="comma-separated class names in id order "
        f"({', '.join(CLASS_NAME_FORMATS)}; default: the format's own list)",
    )
    convert.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    convert.set_defaults(func=run_convert)

    stats = sub.add_parser(
        "stats",
        help="box-size histogram and anchor coverage",
        description="Box-size histogram (sizes measured after resizing to the model input) "
        "and the share of boxes whose best anchor reaches the match threshold.",
    )
    stats.add_argument("source", metavar="SRC", help="dataset root, or TFRecord file / glob / directory")
    stats.add_argument(
        "--format", choices=SOURCE_FORMATS, default=None, help="source format (default: detected)"
    )
    stats.add_argument(
        "--split",
        action="append",
        default=None,
        metavar="SPLIT",
        help="split to analyse; repeat or comma-separate for several (default: every split present)",
    )
    stats.add_argument(
        "--model",
        default=None,
        metavar="NAME",
        help="kssd_zoo model whose input size and anchors are used (default: none, the box-size histogram only)",
    )
    stats.add_argument(
        "--image-size",
        type=int,
        nargs=2,
        default=None,
        metavar=("H", "W"),
        help="input size to measure boxes at (default: the model's, or the "
        "original image size without a model)",
    )
    stats.add_argument(
        "--match-threshold",
        type=float,
        default=None,
        help="IoU a box's best anchor must reach (default: the model's)",
    )
    stats.add_argument(
        "--matching",
        default=None,
        choices=MATCHING_STRATEGIES,
        help="training matcher whose boxes without a positive anchor are counted (default: the model's)",
    )
    stats.add_argument(
        "--size-measure",
        default="sqrt_area",
        choices=("sqrt_area", "min_side", "max_side"),
        help="box size used for the buckets (default: sqrt_area)",
    )
    stats.set_defaults(func=run_stats)


def _no_subcommand(parser):
    parser.print_help()
    return 2


def _requested_splits(requested):
    if not requested:
        return None
    return [s.strip() for item in requested for s in item.split(",") if s.strip()]


def _splits(source, format, requested):
    from kssd.data.readers import available_splits

    requested = _requested_splits(requested)
    if requested:
        return requested
    splits = available_splits(source, format)
    if not splits:
        raise FileNotFoundError(f"no {format} split found under {source}")
    return splits


def _reader_kwargs(args):
    if getattr(args, "class_names", None):
        return {"class_names": [n.strip() for n in args.class_names.split(",") if n.strip()]}
    return {}


def run_convert(args):
    """Run ``kssd data convert``; returns the exit code."""
    from kssd.data.readers import READERS, detect_format, open_reader, takes_class_names
    from kssd.data.tfrecord import existing_outputs, shard_paths, write_tfrecords

    if args.num_shards < 1:
        raise ValueError(f"--num-shards must be >= 1, got {args.num_shards}")
    format = args.format or detect_format(args.source)
    if format == "tfrecord":
        raise ValueError(
            f"{args.source} already holds TFRecords; convert reads {', '.join(READERS.names())} datasets"
        )
    splits = _splits(args.source, format, args.split)
    if not args.overwrite:
        for split in splits:
            existing = existing_outputs(args.out, split)
            if existing:
                raise FileExistsError(
                    f"{args.out} already holds shards of split {split!r} (e.g. {existing[0]}); "
                    "pass --overwrite to replace them"
                )
    kwargs = _reader_kwargs(args)
    if kwargs and not takes_class_names(format):
        takers = READERS.where(takes_class_names=True)
        raise ValueError(
            f"--class-names applies to {', '.join(takers[:-1])} and {takers[-1]} sources, not {format}"
        )
    failed = False
    for split in splits:
        reader = open_reader(args.source, format, split, **kwargs)
        stats = write_tfrecords(
            reader,
            args.out,
            split,
            args.num_shards,
            overwrite=args.overwrite,
            class_names=reader.class_names,
            source_format=format,
            source_stats=reader.stats,
            progress=not args.no_progress,
        )
        paths = shard_paths(args.out, split, args.num_shards)
        title = (
            f"{format} {split} -> {paths[0] if len(paths) == 1 else paths[0] + ' ...'} "
            f"({len(paths)} shard{'s' if len(paths) > 1 else ''})"
        )
        print(stats.table(title=title, images_label="images written"))
        failed |= stats.images == 0
    if failed:
        print("kssd data convert: error: a split produced no images", file=sys.stderr)
    return 1 if failed else 0


def _records_for(source, format, split):
    """(name, records list, class_names, the reader's DatasetStats or None) for one split."""
    from kssd.data.readers import open_reader

    if format == "tfrecord":
        from kssd.data.tfrecord import read_dataset_info, read_tfrecords

        pattern = source
        info = read_dataset_info(source) if os.path.isdir(source) else None
        if split is not None and os.path.isdir(source):
            pattern = os.path.join(source, f"{split}-*.tfrecord")
        records = [
            dict(r, image_bytes=None if r["height"] else r["image_bytes"]) for r in read_tfrecords(pattern)
        ]
        return split or str(source), records, (info or {}).get("class_names"), None
    reader = open_reader(source, format, split)
    records = list(reader)
    return split, records, reader.class_names, getattr(reader, "stats", None)


def run_stats(args):
    """Run ``kssd data stats``; returns the exit code (1 when unreadable images were left out)."""
    from kssd.boxes import DEFAULT_MATCH_THRESHOLD
    from kssd.data.pipeline import describe_box_changes, sanitize_records
    from kssd.data.readers import detect_format
    from kssd.data.stats import anchor_coverage, box_size_histogram, format_stats_table, records_with_sizes
    from kssd_zoo.loading import load

    format = args.format or detect_format(args.source)
    if format == "tfrecord":
        splits = _requested_splits(args.split) or [None]
    else:
        splits = _splits(args.source, format, args.split)
    image_size = tuple(args.image_size) if args.image_size else None
    anchors = None
    match_threshold = args.match_threshold
    matching = args.matching
    if args.model:
        model = load(args.model)
        if image_size is None:
            image_size = tuple(int(v) for v in model.input_size)
        anchors = model.anchors
        if anchors is None or image_size != tuple(int(v) for v in model.input_size):
            anchors = model.anchors_for(image_size)
        if match_threshold is None:
            match_threshold = float(model.match_threshold)
        if matching is None:
            matching = model.matching
    if match_threshold is None:
        match_threshold = DEFAULT_MATCH_THRESHOLD
    left_out = False
    for split in splits:
        name, records, _, read_stats = _records_for(args.source, format, split)
        records, problems = records_with_sizes(records)
        records, box_stats = sanitize_records(records)
        if read_stats is not None:
            box_stats.merge_issues(read_stats)
        for problem in problems:
            box_stats.skip_image(problem.reason, problem.path)
        if box_stats.num_images_skipped:
            left_out = True
            print(f"{format} {name}: left out {box_stats.num_images_skipped} image(s):", file=sys.stderr)
            for reason, count in box_stats.images_skipped.items():
                examples = ", ".join(str(e) for e in box_stats.examples.get(reason, []))
                print(f"  {count} {reason} (e.g. {examples})", file=sys.stderr)
        if box_stats.num_boxes_dropped:
            print(f"{format} {name}: {describe_box_changes(box_stats)}", file=sys.stderr)
        histogram = box_size_histogram(records, image_size, size_measure=args.size_measure)
        coverage = None
        if anchors is not None:
            coverage = anchor_coverage(
                records,
                anchors,
                image_size,
                match_threshold,
                size_measure=args.size_measure,
                matching=matching,
            )
        at = f"at {image_size[0]}x{image_size[1]}" if image_size else "at original size"
        title = (
            f"{format} {name}: {len(records)} images, {sum(histogram.values())} boxes, "
            f"box sizes ({args.size_measure}) {at}" + (f", anchors of {args.model}" if args.model else "")
        )
        print(format_stats_table(histogram, coverage, title=title))
    return 1 if left_out else 0
