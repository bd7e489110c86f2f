"""Finding images in a library: `lib.where` (each argument, combinations, edge cases), tags
(`tag`, `untag`, `tagged`, the JSON round trip), `similar_to_image` and `similar_to_rows`."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

import vectorvision_widget as vv
from vectorvision_widget.library.store import Library

PATHS = [
    "/photos/2023/trip/a.jpg",
    "/photos/2023/trip/b.jpg",
    "/photos/2023/tripod/c.jpg",  # a sibling whose name starts like "trip"
    "/photos/2023/d.jpg",
    "/photos/2024/e.jpg",
    "/other/f.jpg",
]
RECORDS: list[dict[str, Any]] = [
    {
        "taken": "2023-07-14T18:03:21+02:00",
        "camera": "Canon EOS 5D",
        "gps": [1.0, 2.0],
        "keywords": [{"label": "beach", "score": 0.3}, {"label": "sea", "score": 0.2}],
    },
    {"taken": "2023-07-14T23:59:59", "camera": "Apple iPhone 15", "keywords": ["sea"]},
    {"taken": "2023-07-15T00:00:00", "camera": "canon eos 5d", "gps": [-3.5, 7.0]},
    {"taken": "2023-12-31T12:00:00", "keywords": ["cat"]},
    {"taken": "not a date", "camera": "Apple iPhone 15"},
    {},
]


@pytest.fixture
def lib() -> Library:
    rng = np.random.default_rng(0)
    return Library.from_arrays(
        PATHS, rng.normal(size=(6, 8)), rng.normal(size=(6, 5)), records=RECORDS
    )


def by_hand(lib: Library, keep: Any) -> list[int]:
    return [i for i, rec in enumerate(lib.records) if keep(rec)]


def test_no_argument_matches_everything(lib: Library) -> None:
    assert lib.where() == list(range(6))
    assert lib.where(camera=[], tags=[], keywords=[]) == list(range(6))


def test_folder_is_that_folder_and_below_by_path_components(lib: Library) -> None:
    assert lib.where(folder="/photos/2023/trip") == [0, 1]  # not /photos/2023/tripod
    assert lib.where(folder="/photos/2023/trip/") == [0, 1]
    assert lib.where(folder="/photos/2023") == [0, 1, 2, 3]
    assert lib.where(folder=Path("/photos")) == [0, 1, 2, 3, 4]
    assert lib.where(folder="/") == list(range(6))
    assert lib.where(folder=["/other", "/photos/2024"]) == [4, 5]
    assert lib.where(folder="/photos/20") == []
    assert lib.where(folder="/photos/2023/d.jpg") == [3]  # a file: itself
    assert lib.where(folder="/nowhere") == []


def test_taken_ranges_are_inclusive_and_a_date_end_is_the_whole_day(lib: Library) -> None:
    assert lib.where(taken=("2023-07-14", "2023-07-14")) == [0, 1]
    assert lib.where(taken=(dt.date(2023, 7, 14), dt.date(2023, 7, 15))) == [0, 1, 2]
    assert lib.where(taken=("2023-07-15", None)) == [2, 3]
    assert lib.where(taken=(None, "2023-07-14T23:59:59")) == [0, 1]
    assert lib.where(taken=(dt.datetime(2023, 7, 14, 18, 3, 21), None)) == [0, 1, 2, 3]
    assert lib.where(taken=("2023-07", "2023-07")) == [0, 1, 2]
    assert lib.where(taken=("2023", "2023")) == [0, 1, 2, 3]
    assert lib.where(taken=(None, None)) == [0, 1, 2, 3]  # images with a readable date
    # wall-clock time: the +02:00 offset does not move the photo to another hour
    assert lib.where(taken=("2023-07-14T18:00:00", "2023-07-14T18:05:00")) == [0]


def test_camera_keywords_and_gps(lib: Library) -> None:
    assert lib.where(camera="Canon EOS 5D") == [0, 2]  # case-insensitive
    assert lib.where(camera=["apple iphone 15", "Nikon"]) == [1, 4]
    assert lib.where(keywords="sea") == [0, 1]
    assert lib.where(keywords=["SEA", "cat"]) == [0, 1, 3]
    assert lib.where(has_gps=True) == [0, 2]
    assert lib.where(has_gps=False) == [1, 3, 4, 5]


def test_arguments_combine_with_and(lib: Library) -> None:
    lib.tag([0, 2, 3], "best")
    got = lib.where(folder="/photos/2023", taken=("2023-07-14", None), tags="best", has_gps=True)
    assert got == [0, 2]
    assert lib.where(camera="canon eos 5d", keywords="sea") == [0]
    assert lib.where(folder="/photos/2024", camera="Canon EOS 5D") == []


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"taken": "2023"}, r"\(start, end\) pair"),
        ({"taken": ("2023", "2022")}, "after the end"),
        ({"taken": ("July", None)}, "cannot read the date"),
        ({"taken": (2023, None)}, "taken bounds"),
        ({"camera": 5}, "camera must be"),
        ({"tags": [""]}, "non-empty"),
        ({"keywords": [None]}, "non-empty"),
        ({"has_gps": "yes"}, "has_gps"),
        ({"folder": ""}, "non-empty"),
        ({"folder": 3}, "folder must be"),
    ],
)
def test_bad_arguments_are_a_clear_value_error(
    lib: Library, kwargs: dict[str, Any], words: str
) -> None:
    with pytest.raises(ValueError, match=words):
        lib.where(**kwargs)


def test_where_follows_changes_of_the_library(lib: Library) -> None:
    assert lib.where(camera="Nikon D750") == []
    rng = np.random.default_rng(1)
    lib.upsert({"path": "/photos/n.jpg", "camera": "Nikon D750"}, rng.normal(size=8))
    assert lib.where(camera="Nikon D750") == [6]
    lib.update_fields({6: {"camera": "Nikon D850"}})
    assert lib.where(camera="Nikon D750") == []
    lib.remove("/photos/2023/trip/a.jpg")
    assert lib.where(camera="Nikon D850") == [5]
    assert lib.where(folder="/photos/2023/trip") == [0]


def test_where_at_random_agrees_with_a_loop() -> None:
    rng = np.random.default_rng(5)
    n = 400
    paths = [f"/r/{rng.integers(3)}/{rng.integers(3)}/{i}.jpg" for i in range(n)]
    recs = [
        {
            "taken": f"2020-0{rng.integers(1, 10)}-1{rng.integers(0, 10)}T12:00:00"
            if rng.random() < 0.8
            else None,
            "camera": ["A", "B", "C", None][rng.integers(4)],
            "gps": [1.0, 1.0] if rng.random() < 0.5 else None,
            "keywords": [["x", "y", "z"][rng.integers(3)]],
        }
        for _ in range(n)
    ]
    lib = Library.from_arrays(paths, rng.normal(size=(n, 4)), records=recs)
    got = lib.where(folder="/r/1", taken=("2020-03", "2020-06-15"), camera=["A", "b"], keywords="y")
    want = by_hand(
        lib,
        lambda r: (
            r["path"].startswith("/r/1/")
            and r["taken"] is not None
            and "2020-03-01" <= r["taken"][:10] <= "2020-06-15"
            and r["camera"] in ("A", "B")
            and r["keywords"][0]["label"] == "y"
        ),
    )
    assert got == want and want


# --- tags ---------------------------------------------------------------------------------------


def test_tag_untag_tagged(lib: Library) -> None:
    version, rows_version = lib.version, lib.rows_version
    assert lib.tag([0, "/photos/2024/e.jpg", np.int64(5)], "trip", " best ") == 3
    assert lib.version > version and lib.rows_version == rows_version  # caches of vectors kept
    assert lib.records[0]["tags"] == ["trip", "best"]
    assert lib.tagged("trip") == [0, 4, 5] and lib.tagged("best") == [0, 4, 5]
    assert lib.tag(0, "trip") == 0  # already there: nothing changes
    assert lib.untag([0, 4], "trip") == 2
    assert lib.tagged("trip") == [5] and lib.where(tags=["trip", "best"]) == [0, 4, 5]
    assert lib.untag(range(6), "best", "trip") == 3
    assert all("tags" not in r for r in lib.records)
    assert lib.tagged("best") == [] and lib.tag_counts() == {}


def test_bad_tags_and_rows_change_nothing(lib: Library) -> None:
    for names in ((), ("",), ("  ",), (3,)):
        with pytest.raises(ValueError):
            lib.tag(0, *names)
    with pytest.raises(IndexError):
        lib.tag([0, 6], "x")
    with pytest.raises(KeyError, match="not in the library"):
        lib.tag([0, "/nope.jpg"], "x")
    with pytest.raises(TypeError):
        lib.tag([True], "x")
    assert lib.tag_counts() == {}


def test_tags_round_trip_through_the_file(lib: Library, tmp_path: Path) -> None:
    lib.tag([1, 2], "keep", "zürich")
    lib.save(tmp_path / "lib.json")
    again = Library.load(tmp_path / "lib.json")
    assert again.tagged("keep") == [1, 2] and again.tagged("zürich") == [1, 2]
    assert again.records == lib.records
    assert again.tag_counts() == {"keep": 2, "zürich": 2}


def test_tags_in_a_hand_made_file_are_cleaned() -> None:
    rng = np.random.default_rng(0)
    lib = Library.from_arrays(
        ["/a.jpg", "/b.jpg"],
        rng.normal(size=(2, 4)),
        records=[{"tags": ["x", " x", "", 3, "y"]}, {"tags": "p, q"}],
    )
    assert lib.records[0]["tags"] == ["x", "y"] and lib.records[1]["tags"] == ["p", "q"]


# --- query by image and by rows -----------------------------------------------------------------


def pictures(folder: Path, n: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(n):
        rng = np.random.default_rng(i)
        path = folder / f"p{i}.png"
        Image.fromarray(rng.integers(0, 255, (40, 48, 3), dtype=np.uint8)).save(path)
        out.append(path)
    return out


@pytest.fixture
def scanned(tmp_path: Path, encoders: Any) -> tuple[Library, list[Path]]:
    files = pictures(tmp_path / "pics", 8)
    lib = Library()
    vv.scan(tmp_path / "pics", lib, encoders=encoders, progress=False, thumbs=False)
    return lib, files


@pytest.mark.parametrize("space", ["visual", "semantic", "hybrid"])
def test_similar_to_image_path_pil_and_array_agree_and_find_the_image_itself(
    scanned: tuple[Library, list[Path]], encoders: Any, space: str
) -> None:
    lib, files = scanned
    target = files[3]
    row = lib.row_of(target)
    by_path = lib.similar_to_image(target, encoders=encoders, k=5, space=space)
    pil = Image.open(target).convert("RGB")
    by_pil = lib.similar_to_image(pil, encoders=encoders, k=5, space=space)
    by_array = lib.similar_to_image(np.asarray(pil), encoders=encoders, k=5, space=space)
    by_float = lib.similar_to_image(np.asarray(pil) / 255.0, encoders=encoders, k=5, space=space)
    assert [r for r, _ in by_path] == [r for r, _ in by_pil] == [r for r, _ in by_array]
    np.testing.assert_allclose([s for _, s in by_path], [s for _, s in by_array], atol=1e-5)
    assert [r for r, _ in by_float] == [r for r, _ in by_array]
    assert by_path[0][0] == row and by_path[0][1] == pytest.approx(1.0, abs=1e-4)
    # the rest ranks as similar() ranks from the row itself
    assert [r for r, _ in by_path[1:]] == [r for r, _ in lib.similar(row or 0, k=4, space=space)]


def test_similar_to_image_checks_its_arguments(
    scanned: tuple[Library, list[Path]], encoders: Any
) -> None:
    lib, files = scanned
    with pytest.raises(ValueError, match="encoders"):
        lib.similar_to_image(files[0])
    with pytest.raises(ValueError, match="space"):
        lib.similar_to_image(files[0], encoders=encoders, space="smell")
    with pytest.raises(ValueError, match="shape"):
        lib.similar_to_image(np.zeros((4, 4, 2), np.uint8), encoders=encoders)
    with pytest.raises(ValueError, match=r"0\.\.255"):
        lib.similar_to_image(np.full((4, 4), 300), encoders=encoders)
    with pytest.raises(TypeError):
        lib.similar_to_image(3, encoders=encoders)
    assert Library().similar_to_image(files[0], encoders=encoders) == []


def test_more_like_these_ranks_by_the_centroid_and_excludes_them() -> None:
    rng = np.random.default_rng(2)
    X = rng.normal(size=(50, 6))
    lib = Library.from_arrays([f"/p/{i}.jpg" for i in range(50)], X, X)
    rows = [3, 7, 11]
    got = lib.similar_to_rows(rows, k=5)
    unit = X / np.linalg.norm(X, axis=1, keepdims=True)
    c = unit[rows].mean(axis=0)
    scores = unit @ (c / np.linalg.norm(c))
    scores[rows] = -np.inf
    want = np.argsort(-scores, kind="stable")[:5].tolist()
    assert [r for r, _ in got] == want
    np.testing.assert_allclose([s for _, s in got], scores[want], atol=1e-5)
    assert lib.similar_to_rows(["/p/3.jpg", 7, 11], k=5) == got


def test_less_like_these_pushes_away_from_the_negative_set() -> None:
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=8), rng.normal(size=8)
    X = np.vstack(
        [a + 0.1 * rng.normal(size=8) for _ in range(10)]
        + [b + 0.1 * rng.normal(size=8) for _ in range(10)]
    )
    X[9] = a + b  # between the two groups
    X[19] = a + b + 0.01
    lib = Library.from_arrays([f"/p/{i}.jpg" for i in range(20)], X, X)
    plain = [r for r, _ in lib.similar_to_rows([0, 1], k=20, space="semantic")]
    pushed = lib.similar_to_rows([0, 1], k=20, space="semantic", negative=[10, 11], alpha=1.0)
    assert {r for r, _ in pushed}.isdisjoint({0, 1, 10, 11})
    assert len(pushed) == 16
    assert [r for r, _ in pushed].index(9) > plain.index(9) - 2  # the mixed ones sink
    assert pushed[-1][0] in range(12, 20) and pushed[0][0] in range(2, 9)
    with pytest.raises(ValueError, match="alpha"):
        lib.similar_to_rows([0], negative=[1], alpha=-1)
    with pytest.raises(ValueError, match="at least one"):
        lib.similar_to_rows([])


def test_a_tag_keeps_the_neighbour_table_and_an_upsert_does_not(
    lib: Library, monkeypatch: pytest.MonkeyPatch
) -> None:
    import vectorvision_widget.library.queries as queries

    built: list[int] = []
    original = queries.neighbour_table

    def counting(X: Any, k: int, **kw: Any) -> Any:
        built.append(k)
        return original(X, k, **kw)

    monkeypatch.setattr(queries, "neighbour_table", counting)
    lib.neighbour_table(k=2)
    lib.tag(1, "x")
    lib.untag(1, "x")
    lib.neighbour_table(k=2)
    assert len(built) == 1
    lib.update_fields({1: {"camera": "other"}})  # a metadata change counts as a row change
    lib.neighbour_table(k=2)
    assert len(built) == 2
