"""ctypes binding to libespeak-ng: find, load and initialize it once per process.

libespeak-ng keeps its state in C globals and is not thread-safe, so every call
into it goes through `LOCK`, and a library is initialized once per process
(`open_library` caches it by path). Initialization uses synchronous mode: the
synth callback runs on the caller's thread while `espeak_Synth` returns.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import importlib
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path

from aiwf.workers.tts.errors import INSTALL_HINT, EngineUnavailable
from aiwf.workers.tts.voices import VoiceCatalog, VoiceStruct, read_voices

__all__ = ["LOCK", "EspeakLibrary", "SynthOutput", "open_library"]

#: Serializes every call into any libespeak-ng handle of this process.
LOCK = threading.RLock()

_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_DONT_EXIT = 0x8000  # without it a failed data load calls exit(1)
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_ENDPAUSE = 0x1000  # SSML and phoneme input stay off: text is untrusted
_RATE = 1
_PITCH = 3
_EE_OK = 0
_EE_NOT_FOUND = 2
#: Files without which espeak-ng cannot speak (it would fail late, or exit).
_DATA_FILES = ("phontab", "phonindex", "phondata", "intonations")

_SynthCallback = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)


@dataclass
class _Collector:
    """Samples of the synthesis in progress; stops espeak-ng past `limit` samples."""

    limit: int = 0
    chunks: list[bytes] = field(default_factory=list)
    samples: int = 0
    truncated: bool = False

    def feed(self, wav: ctypes._Pointer[ctypes.c_short], count: int) -> int:
        if count <= 0 or not wav:
            return 0
        if self.samples + count > self.limit:
            self.truncated = True
            return 1  # non-zero aborts the synthesis
        self.chunks.append(ctypes.string_at(wav, count * 2))
        self.samples += count
        return 0


@dataclass(frozen=True, slots=True)
class SynthOutput:
    """Raw synthesis result: native-endian 16-bit mono PCM."""

    pcm: bytes
    truncated: bool


class EspeakLibrary:
    """One loaded and initialized libespeak-ng; call its methods with `LOCK` held."""

    def __init__(self, lib: ctypes.CDLL, source: str, sample_rate: int, data_path: str) -> None:
        self._lib = lib
        self.source = source
        self.sample_rate = sample_rate
        self.data_path = data_path
        self._collector = _Collector()
        self._catalog: VoiceCatalog | None = None
        # Kept on the instance: the C side holds only a raw pointer to it.
        self._callback = _SynthCallback(self._on_samples)
        lib.espeak_SetSynthCallback(self._callback)

    def _on_samples(self, wav: ctypes._Pointer[ctypes.c_short], count: int, _events: int | None) -> int:
        return self._collector.feed(wav, count)

    def version(self) -> str:
        return _decode(self._lib.espeak_Info(None))

    def catalog(self) -> VoiceCatalog:
        """Installed voices and variants, listed once (espeak-ng reads them from disk)."""
        if self._catalog is None:
            variant_spec = VoiceStruct(languages=ctypes.cast(ctypes.c_char_p(b"variant"), ctypes.c_void_p))
            variants = read_voices(self._lib.espeak_ListVoices(ctypes.byref(variant_spec)))
            voices = read_voices(self._lib.espeak_ListVoices(None))
            self._catalog = VoiceCatalog.of(voices, variants)
        return self._catalog

    def set_voice(self, spec: str) -> bool:
        """Select a listed voice (see VoiceCatalog.resolve); False when none matches."""
        resolved = self.catalog().resolve(spec)
        if resolved is None:
            return False
        status = self._lib.espeak_SetVoiceByName(resolved.encode())
        if status == _EE_NOT_FOUND:
            return False
        _check(status, f"espeak_SetVoiceByName({resolved!r})")
        return True

    def set_prosody(self, rate_wpm: int, pitch: int) -> None:
        _check(self._lib.espeak_SetParameter(_RATE, rate_wpm, 0), "espeak_SetParameter(rate)")
        _check(self._lib.espeak_SetParameter(_PITCH, pitch, 0), "espeak_SetParameter(pitch)")

    def synth(self, text: str, max_samples: int) -> SynthOutput:
        data = text.encode() + b"\0"
        self._collector = _Collector(limit=max_samples)
        try:
            status = self._lib.espeak_Synth(data, len(data), 0, _POS_CHARACTER, 0, _CHARS_UTF8 | _ENDPAUSE, None, None)
            _check(status, "espeak_Synth")
            _check(self._lib.espeak_Synchronize(), "espeak_Synchronize")
            collector = self._collector
        finally:
            self._collector = _Collector()
        return SynthOutput(b"".join(collector.chunks), collector.truncated)


_opened: dict[tuple[str, str | None], EspeakLibrary] = {}


def open_library(library: Path | None, data: Path | None) -> EspeakLibrary:
    """Load and initialize libespeak-ng once per (library, data) in this process.

    Without `library`: the espeakng-loader wheel, else the system libespeak-ng.
    """
    candidates = [(_normalize(str(library)), data)] if library is not None else _default_candidates(data)
    if not candidates:
        raise EngineUnavailable(f"libespeak-ng not found; {INSTALL_HINT}")
    failures: list[str] = []
    with LOCK:
        for lib_path, data_path in candidates:
            key = (lib_path, str(data_path) if data_path is not None else None)
            if key in _opened:
                return _opened[key]
            if data_path is None:
                for opened in _opened.values():
                    if opened.source == lib_path:
                        return opened
            try:
                opened = _initialize(lib_path, data_path)
            except EngineUnavailable as exc:
                failures.append(str(exc))
                continue
            _opened[key] = opened
            return opened
    raise EngineUnavailable("; ".join(failures))


def _default_candidates(data: Path | None) -> list[tuple[str, Path | None]]:
    found: list[tuple[str, Path | None]] = []
    try:
        loader = importlib.import_module("espeakng_loader")
        wheel_library = _normalize(str(loader.get_library_path()))
        found.append((wheel_library, data or Path(loader.get_data_path())))
    except (ImportError, RuntimeError, OSError):
        pass  # the wheel is optional: fall back to the system library
    system = ctypes.util.find_library("espeak-ng")
    if system:
        found.append((_normalize(system), data))
    return found


def _initialize(lib_path: str, data: Path | None) -> EspeakLibrary:
    if any(lib.source == lib_path for lib in _opened.values()):
        raise EngineUnavailable(
            f"libespeak-ng at {lib_path} is already initialized with other data in this "
            "process; use one data path per library"
        )
    if data is not None and _data_dir(data) is None:
        raise EngineUnavailable(f"no espeak-ng data (phontab ...) under {data}; {INSTALL_HINT}")
    try:
        lib = ctypes.CDLL(lib_path)
        _declare(lib)
    except (OSError, AttributeError) as exc:
        raise EngineUnavailable(f"cannot load libespeak-ng from {lib_path} ({exc}); {INSTALL_HINT}") from exc
    path_arg = str(data).encode() if data is not None else None
    # Resolve the data dir as espeak-ng would, and check it before the C code reads it.
    lib.espeak_ng_InitializePath(path_arg)
    resolved = ctypes.c_char_p()
    lib.espeak_Info(ctypes.byref(resolved))
    data_dir = _decode(resolved.value)
    if _data_dir(Path(data_dir)) is None:
        raise EngineUnavailable(f"no espeak-ng data at {data_dir!r}; {INSTALL_HINT}")
    rate = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, path_arg, _INITIALIZE_DONT_EXIT)
    if rate <= 0:
        raise EngineUnavailable(f"espeak_Initialize failed ({rate}) for {lib_path}; {INSTALL_HINT}")
    return EspeakLibrary(lib, lib_path, rate, data_dir)


def _normalize(lib_path: str) -> str:
    """One key per file: dlopen shares a handle between a library's symlinks."""
    return os.path.realpath(lib_path) if os.path.exists(lib_path) else lib_path


def _data_dir(path: Path) -> Path | None:
    for candidate in (path / "espeak-ng-data", path):
        if all((candidate / name).is_file() for name in _DATA_FILES):
            return candidate
    return None


def _declare(lib: ctypes.CDLL) -> None:
    """Declare the C signatures (speak_lib.h); a missing symbol raises AttributeError."""
    c_int, c_uint, c_char_p, c_void_p = ctypes.c_int, ctypes.c_uint, ctypes.c_char_p, ctypes.c_void_p
    signatures: dict[str, tuple[object, list[object]]] = {
        "espeak_ng_InitializePath": (None, [c_char_p]),
        "espeak_Initialize": (c_int, [c_int, c_int, c_char_p, c_int]),
        "espeak_Info": (c_char_p, [ctypes.POINTER(c_char_p)]),
        "espeak_SetSynthCallback": (None, [_SynthCallback]),
        "espeak_ListVoices": (
            ctypes.POINTER(ctypes.POINTER(VoiceStruct)),
            [ctypes.POINTER(VoiceStruct)],
        ),
        "espeak_SetVoiceByName": (c_int, [c_char_p]),
        "espeak_SetParameter": (c_int, [c_int, c_int, c_int]),
        "espeak_Synth": (
            c_int,
            [c_void_p, ctypes.c_size_t, c_uint, c_int, c_uint, c_uint, c_void_p, c_void_p],
        ),
        "espeak_Synchronize": (c_int, []),
    }
    for name, (restype, argtypes) in signatures.items():
        function = getattr(lib, name)
        function.restype = restype
        function.argtypes = argtypes


def _check(status: int, call: str) -> None:
    if status != _EE_OK:
        raise EngineUnavailable(f"{call} failed with status {status}; the engine looks broken")


def _decode(value: bytes | None) -> str:
    return value.decode("utf-8", "replace") if value else ""
