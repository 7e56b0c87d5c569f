"""PNGFilesDataset: PNG bytes written as they are, where MatplotlibDataset writes figures."""

from __future__ import annotations

import io

import pytest
from kedro.io import DatasetError, Version
from kedro_datasets.matplotlib import MatplotlibDataset
from matplotlib.figure import Figure

from customer_retention.datasets import PNGFilesDataset


def _png(colour: str) -> bytes:
    figure = Figure(figsize=(2, 1))
    figure.subplots().plot([0, 1], [1, 0], color=colour)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=50)
    return buffer.getvalue()


def _files(root) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*.png")}


def test_a_dict_of_images_lands_where_matplotlib_dataset_puts_figures(tmp_path):
    images = {"a.png": _png("red"), "b.png": _png("blue")}
    version = Version(None, "2026-01-01T00.00.00.000Z")
    ours = PNGFilesDataset(filepath=str(tmp_path / "ours" / "charts"), version=version)
    ours.save(images)
    theirs = MatplotlibDataset(filepath=str(tmp_path / "theirs" / "charts"), version=version)
    theirs.save({name: Figure() for name in images})
    assert (
        _files(tmp_path / "ours")
        == _files(tmp_path / "theirs")
        == {f"charts/{version.save}/charts/{name}" for name in images}
    )
    loaded = PNGFilesDataset(
        filepath=str(tmp_path / "ours" / "charts"), version=Version(None, None)
    )
    assert loaded.load() == images  # the bytes as given, nothing re-encoded
    assert loaded.exists()


def test_one_image_unversioned(tmp_path):
    path = tmp_path / "one.png"
    dataset = PNGFilesDataset(filepath=str(path))
    assert not dataset.exists()
    dataset.save(_png("green"))
    assert path.read_bytes() == _png("green") == dataset.load()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"../escape.png": _png("red")}, "plain file name"),
        ({"a.png": b"not a png"}, "not PNG bytes"),
        (Figure(), "not PNG bytes"),
    ],
)
def test_refuses_what_is_not_named_png_bytes(tmp_path, data, message):
    with pytest.raises(DatasetError, match=message):
        PNGFilesDataset(filepath=str(tmp_path / "x")).save(data)
