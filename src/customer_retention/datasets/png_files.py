"""PNG images already encoded (bytes), written as they are: no figure is drawn again.

:class:`PNGFilesDataset` takes the bytes of one PNG, or ``{file name: bytes}``, and writes them
where ``matplotlib.MatplotlibDataset`` would write the figures (versioned:
``<filepath>/<version>/<file name of filepath>`` for one image, a folder of that name holding
the named files for a dict). A node that needs the PNG bytes anyway (the report embeds them)
saves them through this dataset instead of handing the figures to ``MatplotlibDataset``, which
would draw each figure a second time.
"""

from __future__ import annotations

from copy import deepcopy
from pathlib import PurePosixPath
from typing import Any

import fsspec
from kedro.io.core import (
    AbstractVersionedDataset,
    DatasetError,
    Version,
    get_filepath_str,
    get_protocol_and_path,
)

from .atomic import AtomicSaveMixin

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
Images = bytes | dict[str, bytes]


class PNGFilesDataset(AtomicSaveMixin, AbstractVersionedDataset[Images, Images]):
    """Save / load PNG bytes: one image, or a folder of named images (a dict).

    Example (catalog)::

        report_charts:
          type: customer_retention.datasets.PNGFilesDataset
          filepath: data/08_reporting/report_charts
          versioned: true
    """

    def __init__(
        self,
        *,
        filepath: str,
        version: Version | None = None,
        credentials: dict[str, Any] | None = None,
        fs_args: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        fs_args = deepcopy(fs_args) or {}
        protocol, path = get_protocol_and_path(filepath, version)
        if protocol == "file":
            fs_args.setdefault("auto_mkdir", True)
        self._protocol = protocol
        self._fs = fsspec.filesystem(protocol, **(deepcopy(credentials) or {}), **fs_args)
        self.metadata = metadata
        super().__init__(
            filepath=PurePosixPath(path),
            version=version,
            exists_function=self._fs.exists,
            glob_function=self._fs.glob,
        )

    def _describe(self) -> dict[str, Any]:
        return {"filepath": self._filepath, "protocol": self._protocol, "version": self._version}

    def _write(self, path: PurePosixPath, data: bytes) -> None:
        if not isinstance(data, bytes | bytearray) or not bytes(data[:8]) == PNG_SIGNATURE:
            raise DatasetError(f"{path.name}: not PNG bytes ({type(data).__name__})")
        with self._fs.open(get_filepath_str(path, self._protocol), mode="wb") as handle:
            handle.write(data)

    def save(self, data: Images) -> None:
        path = self._get_save_path()
        if isinstance(data, dict):
            for name, image in data.items():
                if PurePosixPath(name).name != name or name in ("", ".", ".."):
                    raise DatasetError(f"Image name {name!r} must be a plain file name")
                self._write(path / name, image)
        else:
            self._write(path, data)
        self._fs.invalidate_cache(get_filepath_str(self._filepath, self._protocol))

    def load(self) -> Images:
        path = get_filepath_str(self._get_load_path(), self._protocol)
        if self._fs.isdir(path):
            return {
                PurePosixPath(file).name: self._fs.cat_file(file)
                for file in sorted(self._fs.find(path))
            }
        return self._fs.cat_file(path)

    def _exists(self) -> bool:
        return self._fs.exists(get_filepath_str(self._get_load_path(), self._protocol))
