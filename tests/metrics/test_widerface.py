"""WIDER FACE protocol: synthetic ground truth, a loop-by-loop reference, the real val files."""

import numpy as np
import pytest

from kssd.metrics import (
    evaluate_widerface,
    load_widerface_ground_truth,
    read_widerface_predictions,
    write_widerface_predictions,
)

scipy_io = pytest.importorskip("scipy.io", reason="the WIDER FACE .mat files need scipy")

SETTINGS = ("easy", "medium", "hard")


def _cells(items):
    out = np.empty((len(items), 1), dtype=object)
    for i, item in enumerate(items):
        out[i, 0] = item
    return out


def write_fake_gt(folder, events):
    """events: {event: {name: (boxes (N,4) xywh, {setting: 1-based keep list})}} -> .mat files."""
    folder.mkdir(parents=True, exist_ok=True)
    names = list(events)
    file_list = _cells([_cells(list(events[e])) for e in names])
    boxes = _cells(
        [_cells([np.asarray(b, dtype=np.int32).reshape(-1, 4) for b, _ in events[e].values()]) for e in names]
    )
    common = {"event_list": _cells(names), "file_list": file_list, "face_bbx_list": boxes}
    scipy_io.savemat(folder / "wider_face_val.mat", common)
    for setting in SETTINGS:
        keep = _cells(
            [
                _cells(
                    [np.asarray(k[setting], dtype=np.float64).reshape(-1, 1) for _, k in events[e].values()]
                )
                for e in names
            ]
        )
        scipy_io.savemat(folder / f"wider_{setting}_val.mat", dict(common, gt_list=keep))
    return folder


def reference_widerface(predictions, gt, setting, iou_threshold=0.5, thresh_num=1000):
    """The official algorithm written out loop by loop (independent of the vectorised code)."""
    high, low = 0.0, 1.0
    for pred in predictions.values():
        if len(pred):
            high = max(high, pred[:, 4].max())
            low = min(low, pred[:, 4].min())
    pr = np.zeros((thresh_num, 2))
    count_face = 0
    for key, entry in gt.items():
        keep = entry[setting]
        count_face += len(keep)
        pred = predictions.get(key + ".jpg")
        gt_boxes = entry["boxes"]
        if pred is None or len(pred) == 0 or len(gt_boxes) == 0:
            continue
        pred = pred.copy()
        pred[:, 4] = (pred[:, 4] - low) / (high - low)
        pred = pred[np.argsort(-pred[:, 4], kind="stable")]
        ignore = np.zeros(len(gt_boxes))
        ignore[keep] = 1
        recall_list = np.zeros(len(gt_boxes))
        proposal_list = np.ones(len(pred))
        pred_recall = np.zeros(len(pred))
        for h in range(len(pred)):
            px1, py1 = pred[h, 0], pred[h, 1]
            px2, py2 = px1 + pred[h, 2], py1 + pred[h, 3]
            overlaps = []
            for gx, gy, gw, gh in gt_boxes:
                gx2, gy2 = gx + gw, gy + gh
                iw = min(px2, gx2) - max(px1, gx) + 1
                ih = min(py2, gy2) - max(py1, gy) + 1
                if iw > 0 and ih > 0:
                    union = (px2 - px1 + 1) * (py2 - py1 + 1) + (gx2 - gx + 1) * (gy2 - gy + 1) - iw * ih
                    overlaps.append(iw * ih / union)
                else:
                    overlaps.append(0.0)
            best = int(np.argmax(overlaps))
            if overlaps[best] >= iou_threshold:
                if ignore[best] == 0:
                    recall_list[best] = -1
                    proposal_list[h] = -1
                elif recall_list[best] == 0:
                    recall_list[best] = 1
            pred_recall[h] = np.sum(recall_list == 1)
        for t in range(thresh_num):
            thresh = 1 - (t + 1) / thresh_num
            above = np.where(pred[:, 4] >= thresh)[0]
            if len(above):
                last = above[-1]
                pr[t, 0] += np.sum(proposal_list[: last + 1] == 1)
                pr[t, 1] += pred_recall[last]
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = pr[:, 1] / pr[:, 0]
    recall = pr[:, 1] / count_face
    mrec = np.concatenate(([0.0], recall, [1.0]))
    mpre = np.concatenate(([0.0], precision, [0.0]))
    for i in range(len(mpre) - 1, 0, -1):
        mpre[i - 1] = np.maximum(mpre[i - 1], mpre[i])
    steps = np.where(mrec[1:] != mrec[:-1])[0]
    return float(np.sum((mrec[steps + 1] - mrec[steps]) * mpre[steps + 1]))


# ---------------------------------------------------------------- synthetic ground truth


@pytest.fixture
def tiny_gt(tmp_path):
    faces = [[0, 0, 20, 20], [40, 0, 20, 20], [80, 0, 20, 20], [120, 0, 20, 20]]
    events = {
        "0--Parade": {
            "p1": (faces, {"easy": [1, 2], "medium": [1, 2, 3], "hard": [1, 2, 3, 4]}),
            "p2": ([[10, 10, 30, 30]], {"easy": [], "medium": [1], "hard": [1]}),
        },
        "1--Handshaking": {
            "h1": ([[5, 5, 50, 60], [100, 100, 8, 8]], {"easy": [1], "medium": [1], "hard": [1, 2]}),
        },
    }
    return write_fake_gt(tmp_path / "gt", events)


def test_loader_reads_nested_cells(tiny_gt):
    gt = load_widerface_ground_truth(tiny_gt)
    assert list(gt) == ["0--Parade/p1", "0--Parade/p2", "1--Handshaking/h1"]
    np.testing.assert_array_equal(gt["0--Parade/p1"]["boxes"][1], [40, 0, 20, 20])
    assert gt["0--Parade/p1"]["medium"].tolist() == [0, 1, 2]  # 0-based
    assert gt["0--Parade/p2"]["easy"].tolist() == []
    assert gt["1--Handshaking/h1"]["hard"].tolist() == [0, 1]


def test_hand_computed_case(tiny_gt):
    # p1: exact boxes for faces 1 and 3 plus one false positive; scores normalise to 1, .5, 0.
    preds = {
        "0--Parade/p1.jpg": np.array([[0, 0, 20, 20, 0.9], [80, 0, 20, 20, 0.8], [300, 300, 10, 10, 0.7]])
    }
    with pytest.warns(UserWarning, match="2 of 3 evaluated images have no predictions"):
        ap = evaluate_widerface(preds, tiny_gt)
    # easy: faces {1,2} of p1 + face 1 of h1 = 3 faces; face 3 ignored; TP then FP -> 1/3
    # medium: 5 faces counted (p1: 1,2,3; p2: 1; h1: 1); two TPs then FP -> 2/5
    # hard: 7 faces; two TPs then FP -> 2/7
    assert ap["easy"] == pytest.approx(1 / 3)
    assert ap["medium"] == pytest.approx(2 / 5)
    assert ap["hard"] == pytest.approx(2 / 7)
    # restricted to p1 alone: easy 1/2, medium 2/3, hard 2/4
    ap = evaluate_widerface(preds, tiny_gt, images=["0--Parade/p1.jpg"])
    assert ap == pytest.approx({"easy": 0.5, "medium": 2 / 3, "hard": 0.5})
    loaded = load_widerface_ground_truth(tiny_gt)
    assert evaluate_widerface(preds, loaded, images=["0--Parade/p1.jpg"]) == ap


def test_ignored_faces_are_neither_tp_nor_fp(tiny_gt):
    # Only predictions on faces outside the easy list: easy AP is 0 but precision is not hurt
    # for medium (face 3 counts there).
    preds = {"0--Parade/p1.jpg": np.array([[80, 0, 20, 20, 0.9], [120, 0, 20, 20, 0.8]])}
    ap = evaluate_widerface(preds, tiny_gt, images=["0--Parade/p1"])
    assert ap["easy"] == 0.0
    assert ap["medium"] == pytest.approx(1 / 3)  # face 3 found with precision 1; face 4 ignored
    assert ap["hard"] == pytest.approx(0.5)


def test_duplicates_are_false_positives(tiny_gt):
    box = [5, 5, 50, 60]
    preds = {"1--Handshaking/h1.jpg": np.array([box + [0.9], box + [0.1]])}
    ap = evaluate_widerface(preds, tiny_gt, images=["1--Handshaking/h1.jpg"])
    assert ap["easy"] == 1.0  # the duplicate ranks below the only counted face
    preds = {"1--Handshaking/h1.jpg": np.array([box + [0.1], box + [0.9]])}
    assert evaluate_widerface(preds, tiny_gt, images=["1--Handshaking/h1"])["easy"] == 1.0


def test_matches_loop_reference_on_random_data(tmp_path):
    rng = np.random.default_rng(3)
    events, preds = {}, {}
    for e in range(3):
        event = f"{e}--Event"
        events[event] = {}
        for i in range(4):
            n = int(rng.integers(1, 9))
            xy = rng.integers(0, 300, size=(n, 2))
            wh = rng.integers(4, 60, size=(n, 2))
            boxes = np.concatenate([xy, wh], axis=1)
            order = rng.permutation(n) + 1
            hard = np.sort(order[: max(1, n - 1)])
            medium = np.sort(hard[: len(hard) // 2 + 1])
            easy = np.sort(medium[: len(medium) // 2])
            events[event][f"img{i}"] = (boxes, {"easy": easy, "medium": medium, "hard": hard})
            found = boxes[rng.random(n) < 0.7].astype(float)
            found[:, :2] += rng.normal(0, 3, size=(len(found), 2))
            fps = np.concatenate([rng.uniform(0, 300, (2, 2)), rng.uniform(5, 50, (2, 2))], 1)
            pred = np.concatenate([found, fps])
            preds[f"{event}/img{i}.jpg"] = np.c_[pred, rng.uniform(0.2, 3.0, len(pred))]
    folder = write_fake_gt(tmp_path / "gt", events)
    gt = load_widerface_ground_truth(folder)
    ap = evaluate_widerface(preds, folder)
    for setting in SETTINGS:
        expected = reference_widerface(preds, gt, setting)
        assert ap[setting] == pytest.approx(expected, abs=1e-12), setting
    assert 0.0 < ap["hard"] < 1.0


def test_bad_keys_are_named(tiny_gt):
    preds = {"0--Parade/nope.jpg": np.zeros((0, 5)), "0--Parade/p1.jpg": np.zeros((0, 5))}
    with pytest.raises(ValueError, match="0--Parade/nope.jpg"):
        evaluate_widerface(preds, tiny_gt)
    with pytest.raises(ValueError, match="9--X/y"):
        evaluate_widerface({}, tiny_gt, images=["9--X/y.jpg"])
    with pytest.raises(ValueError, match=r"\(N, 5\)"):
        evaluate_widerface({"0--Parade/p1.jpg": np.zeros((2, 4))}, tiny_gt, images=["0--Parade/p1"])
    with pytest.raises(FileNotFoundError, match="wider_face_val.mat"):
        evaluate_widerface({}, tiny_gt / "missing")


def test_text_files_round_trip(tmp_path, tiny_gt):
    preds = {
        "0--Parade/p1.jpg": np.array([[0, 0, 20, 20, 0.9], [80, 0, 20, 20, 0.25]]),
        "1--Handshaking/h1.jpg": np.zeros((0, 5)),
    }
    paths = write_widerface_predictions(preds, tmp_path / "out")
    assert sorted(p.relative_to(tmp_path / "out").as_posix() for p in paths) == [
        "0--Parade/p1.txt",
        "1--Handshaking/h1.txt",
    ]
    lines = (tmp_path / "out" / "0--Parade" / "p1.txt").read_text().splitlines()
    assert lines[:2] == ["p1", "2"]
    assert [float(v) for v in lines[3].split()] == [80, 0, 20, 20, 0.25]
    back = read_widerface_predictions(tmp_path / "out")
    assert sorted(back) == sorted(preds)
    for key in preds:
        np.testing.assert_allclose(back[key], preds[key].reshape(-1, 5))
    (tmp_path / "out" / "0--Parade" / "p1.txt").write_text("p1\n3\n1 2 3 4 0.5\n")
    with pytest.raises(ValueError, match="count line says 3"):
        read_widerface_predictions(tmp_path / "out")


def _file_rows(path):
    """The box lines of a prediction file, in file order, parsed as the official code does."""
    lines = path.read_text(encoding="utf-8").split("\n")
    assert lines[-1] == ""  # one trailing newline, no blank lines
    rows = [[float(v) for v in line.split(" ")] for line in lines[2:-1]]
    assert int(lines[1]) == len(rows)
    return np.asarray(rows, dtype=np.float64).reshape(-1, 5)


def _random_predictions(rng, gt, jitter=3.0):
    """Unsorted predictions with full-precision floats: jittered faces, misses, false positives."""
    preds = {}
    for key, entry in gt.items():
        boxes = entry["boxes"]
        found = boxes[rng.random(len(boxes)) < 0.7].astype(np.float64)
        found[:, :2] += rng.normal(0, jitter, size=(len(found), 2))
        found[:, 2:] *= rng.uniform(0.9, 1.1, size=(len(found), 2))
        fps = np.concatenate([rng.uniform(0, 300, (3, 2)), rng.uniform(5, 50, (3, 2))], axis=1)
        pred = rng.permutation(np.concatenate([found, fps]))
        preds[key + ".jpg"] = np.c_[pred, rng.uniform(0.01, 0.99, len(pred))]
    return preds


def test_written_files_are_sorted_by_descending_score(tmp_path):
    # Unsorted input with ties: the file holds the rows by descending score, ties in given order.
    pred = np.array(
        [
            [1, 0, 5, 5, 0.2],
            [2, 0, 5, 5, 0.9],
            [3, 0, 5, 5, 0.5],
            [4, 0, 5, 5, 0.9],
            [5, 0, 5, 5, 0.05],
            [6, 0, 5, 5, 0.5],
        ]
    )
    (path,) = write_widerface_predictions({"0--Parade/p1.jpg": pred}, tmp_path)
    rows = _file_rows(path)
    assert rows[:, 0].tolist() == [2, 4, 3, 6, 1, 5]
    assert rows[:, 4].tolist() == [0.9, 0.9, 0.5, 0.5, 0.2, 0.05]
    np.testing.assert_array_equal(read_widerface_predictions(tmp_path)["0--Parade/p1.jpg"], rows)

    rng = np.random.default_rng(7)
    preds = {
        f"{e}--Event/img{i}.jpg": np.c_[
            rng.uniform(0, 200, (n, 4)), rng.choice([0.1, 0.3, 0.7], n) if i % 2 else rng.uniform(-2, 5, n)
        ]
        for e in range(2)
        for i, n in enumerate([0, 1, 7, 40])
    }
    write_widerface_predictions(preds, tmp_path / "many")
    files = {key: _file_rows(tmp_path / "many" / key.replace(".jpg", ".txt")) for key in preds}
    scores = np.concatenate([rows[:, 4] for rows in files.values()])
    high, low = max(0.0, scores.max()), min(1.0, scores.min())
    thresholds = 1 - np.arange(1, 1001) / 1000
    for key, rows in files.items():
        expected = preds[key][np.argsort(-preds[key][:, 4], kind="stable")]
        np.testing.assert_array_equal(rows, expected)
        assert np.all(np.diff(rows[:, 4]) <= 0), key
        # What the official code expects: after its min-max normalisation, the boxes at or above
        # every threshold are a leading run of the file's lines (it takes the last such line).
        normalised = (rows[:, 4] - low) / (high - low)
        for thresh in thresholds:
            above = np.flatnonzero(normalised >= thresh)
            assert above.tolist() == list(range(len(above))), (key, thresh)


def test_written_values_read_back_bit_identical(tmp_path):
    rng = np.random.default_rng(11)
    values = np.c_[rng.uniform(-50, 4000, (200, 4)), rng.uniform(0, 1, 200)]
    values[:5] = [
        [1e-300, 5e-324, 1.0 / 3, 2**52 + 1, 1e-12],
        [-0.0, 0.1 + 0.2, 1e16, 123456789.123456789, 0.999999999999],
        [np.nextafter(1.0, 0.0), np.nextafter(1.0, 2.0), 2.5, 1e308, 1e-7],
        [3.0, 4.0, 5.0, 6.0, 0.0],
        [7.0, 8.0, 9.0, 10.0, 1.0],
    ]
    as_float32 = values[5:].astype(np.float32)  # the extremes above overflow float32
    as_float32[0] = [np.float32(0.1), np.finfo(np.float32).tiny / 8, 1 / 3, 16777217, 0.9]
    preds = {
        "0--Parade/f64.jpg": values,
        "0--Parade/f32.jpg": as_float32,
        "1--Handshaking/empty.jpg": np.zeros((0, 5), np.float32),
    }
    write_widerface_predictions(preds, tmp_path)
    back = read_widerface_predictions(tmp_path)
    assert sorted(back) == sorted(preds)
    for key, given in preds.items():
        # float64 as the metric converts the input; the bit patterns must match exactly
        expected = np.asarray(given, dtype=np.float64)
        expected = expected[np.argsort(-expected[:, 4], kind="stable")]
        assert back[key].dtype == np.float64 and back[key].shape == expected.shape
        np.testing.assert_array_equal(back[key].view(np.uint64), expected.view(np.uint64))
    sorted32 = as_float32[np.argsort(-as_float32[:, 4], kind="stable")]
    np.testing.assert_array_equal(
        back["0--Parade/f32.jpg"].astype(np.float32).view(np.uint32), sorted32.view(np.uint32)
    )


def test_written_files_give_the_same_ap(tmp_path):
    rng = np.random.default_rng(5)
    events = {}
    for e in range(3):
        events[f"{e}--Event"] = {}
        for i in range(5):
            n = int(rng.integers(1, 12))
            boxes = np.c_[rng.integers(0, 300, (n, 2)), rng.integers(4, 60, (n, 2))]
            hard = np.arange(1, n + 1)
            medium, easy = hard[: max(1, n // 2)], hard[: n // 3]
            events[f"{e}--Event"][f"img{i}"] = (boxes, {"easy": easy, "medium": medium, "hard": hard})
    folder = write_fake_gt(tmp_path / "gt", events)
    gt = load_widerface_ground_truth(folder)
    preds = _random_predictions(rng, gt)
    write_widerface_predictions(preds, tmp_path / "out")
    back = read_widerface_predictions(tmp_path / "out")
    assert sorted(back) == sorted(preds)
    direct = evaluate_widerface(preds, gt)
    assert evaluate_widerface(back, gt) == direct  # exactly, not approximately
    assert 0.0 < direct["hard"] < 1.0
    for setting in SETTINGS:
        assert reference_widerface(back, gt, setting) == pytest.approx(direct[setting], abs=1e-12)


def test_writer_replaces_files_atomically(tmp_path, monkeypatch):
    preds = {"0--Parade/p1.jpg": np.array([[0, 0, 20, 20, 0.9]])}
    (path,) = write_widerface_predictions(preds, tmp_path)
    old = path.read_text()
    (path,) = write_widerface_predictions({"0--Parade/p1.jpg": np.zeros((0, 5))}, tmp_path)
    assert path.read_text() == "p1\n0\n"
    assert [p.name for p in path.parent.iterdir()] == ["p1.txt"]  # no temporary left

    path.write_text(old)

    def fail(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr("kssd.files.os.replace", fail)
    with pytest.raises(OSError, match="disk full"):
        write_widerface_predictions({"0--Parade/p1.jpg": np.zeros((0, 5))}, tmp_path)
    assert path.read_text() == old
    assert [p.name for p in path.parent.iterdir()] == ["p1.txt"]


def test_writer_checks_everything_before_writing(tmp_path):
    good = np.array([[0, 0, 20, 20, 0.9]])
    with pytest.raises(ValueError, match="twice"):
        write_widerface_predictions({"0--Parade/p1.jpg": good, "0--Parade/p1": good}, tmp_path)
    with pytest.raises(ValueError, match="NaN"):
        write_widerface_predictions(
            {"0--Parade/p1.jpg": good, "0--Parade/p2.jpg": [[0, 0, 1, 1, np.nan]]}, tmp_path
        )
    with pytest.raises(ValueError, match="event/name"):
        write_widerface_predictions({"0--Parade/p1.jpg": good, "p2.jpg": good}, tmp_path)
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------- the official val files


@pytest.fixture
def val_gt_dir(shared):
    return shared("data", "faces", "widerface_mini", "val_ground_truth")


@pytest.mark.shared
def test_official_val_counts(val_gt_dir):
    gt = load_widerface_ground_truth(val_gt_dir)
    assert len(gt) == 3226
    assert len({key.split("/")[0] for key in gt}) == 61
    assert sum(len(e["boxes"]) for e in gt.values()) == 39708
    counts = {s: sum(len(e[s]) for e in gt.values()) for s in SETTINGS}
    assert counts == {"easy": 7211, "medium": 13319, "hard": 31958}
    np.testing.assert_array_equal(gt["0--Parade/0_Parade_marchingband_1_465"]["boxes"][0], [345, 211, 4, 4])


@pytest.mark.shared
def test_official_val_perfect_and_half(val_gt_dir):
    gt = load_widerface_ground_truth(val_gt_dir)
    names = list(gt)[::40]  # 81 images over many events
    perfect = {n + ".jpg": np.c_[gt[n]["boxes"], np.ones(len(gt[n]["boxes"]))] for n in names}
    ap = evaluate_widerface(perfect, val_gt_dir, images=names)
    for setting in SETTINGS:
        assert ap[setting] == pytest.approx(1.0, abs=1e-3), setting
    half = {n: p[::2] for n, p in perfect.items()}
    ap = evaluate_widerface(half, val_gt_dir, images=names)
    for setting in SETTINGS:
        counted = sum(len(gt[n][setting]) for n in names)
        predicted = sum(int(np.sum(gt[n][setting] % 2 == 0)) for n in names)
        assert ap[setting] == pytest.approx(predicted / counted, abs=2e-3), setting
        assert ap[setting] < 0.75


@pytest.mark.shared
def test_official_val_written_files_give_the_same_ap(val_gt_dir, tmp_path):
    gt = load_widerface_ground_truth(val_gt_dir)
    names = list(gt)[::25]  # 130 images over many events
    preds = _random_predictions(np.random.default_rng(2), {n: gt[n] for n in names}, jitter=1.0)
    write_widerface_predictions(preds, tmp_path)
    back = read_widerface_predictions(tmp_path)
    assert sorted(back) == sorted(preds)
    direct = evaluate_widerface(preds, gt, images=names)
    assert evaluate_widerface(back, gt, images=names) == direct
    assert 0.0 < direct["easy"] < 1.0
