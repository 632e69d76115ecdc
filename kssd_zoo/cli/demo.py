"""``kssd demo``: train tiny_ssd on generated shapes, evaluate it, draw its detections."""


def add_parser(subparsers):
    parser = subparsers.add_parser(
        "demo",
        help="train tiny_ssd on generated shapes (no download), evaluate and draw detections; sticker the shipped photo",
        description="Generate the shapes dataset, train tiny_ssd with model.fit for a fixed "
        "time on the CPU, evaluate mAP@0.5 on held-out images and write a picture; then find and "
        "sticker the faces of the photo shipped with the package (offline).",
    )
    parser.add_argument("--out", default="demo_out", help="output folder (default: demo_out)")
    parser.add_argument(
        "--seconds", type=float, default=120.0, help="training time budget in seconds (default: 120)"
    )
    parser.add_argument("--seed", type=int, default=0, help="data and training seed (default: 0)")
    parser.set_defaults(func=run)


def run(args):
    # The CLI is the application layer: it may use the zoo, which kssd's library modules never do.
    from kssd_zoo.demo import run_demo

    if args.seconds <= 0:
        raise ValueError(f"--seconds must be positive, got {args.seconds}")
    result = run_demo(args.out, train_seconds=args.seconds, seed=args.seed)
    print()
    print(f"{'class':<12}{'AP@0.5':>8}")
    for name, ap in result["per_class"].items():
        print(f"{name:<12}{ap:>8.3f}")
    print(f"trained {result['epochs']} epochs in {result['train_seconds']:.0f} s")
    print(f"mAP@0.5 = {result['mAP']:.3f}")
    print(f"detections drawn in {result['picture']}; model saved as {result['model']}")
    faces = result["faces"]
    for note in faces["notes"]:
        print(f"note: {note}")
    print(
        f"face application on the shipped photo: {faces['faces']} faces "
        f"({faces['with_landmarks']} placed with landmarks) -> {faces['detections']}, {faces['stickered']}"
    )
    return 0
