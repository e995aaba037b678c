"""Voices as espeak-ng lists them, and the only voice specs we hand back to it.

espeak_SetVoiceByName also loads any file under espeak-ng-data/voices by
name, and some of those (a bare variant such as "f3", a folder such as "gmw")
leave it without a phoneme table: the next synthesis segfaults. So a request
names a voice from `espeak_ListVoices`, and `VoiceCatalog.resolve` turns it
into a spec built only from listed identifiers, languages and variants.
"""

from __future__ import annotations

import ctypes
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, TypeAlias

__all__ = ["MAX_VOICES", "Gender", "Listed", "Voice", "VoiceCatalog", "VoiceStruct", "read_voices"]

#: Bound on entries read from the C array (espeak-ng 1.52 ships about 140).
MAX_VOICES = 4096
#: Bound on the bytes of one voice's language list.
_MAX_LANGUAGES_BYTES = 1024

Gender = Literal["male", "female"]
"""Gender as espeak-ng declares it; `None` on a Voice when the voice leaves it unset."""

_GENDERS: dict[int, Gender] = {1: "male", 2: "female"}


class VoiceStruct(ctypes.Structure):
    """`espeak_VOICE` from speak_lib.h; `languages` is raw bytes, so a void pointer."""

    _fields_ = (
        ("name", ctypes.c_char_p),
        ("languages", ctypes.c_void_p),
        ("identifier", ctypes.c_char_p),
        ("gender", ctypes.c_ubyte),
        ("age", ctypes.c_ubyte),
        ("variant", ctypes.c_ubyte),
        ("xx1", ctypes.c_ubyte),
        ("score", ctypes.c_int),
        ("spare", ctypes.c_void_p),
    )


@dataclass(frozen=True, slots=True)
class Voice:
    """One installed voice; any of name, identifier or a language selects it."""

    name: str
    identifier: str
    language: str
    languages: tuple[str, ...]
    gender: Gender | None


_VARIANT_PREFIX = "!v/"

Listed: TypeAlias = tuple[Voice, tuple[int, ...]]
"""A voice with the priority of each of its languages (lower is preferred)."""


@dataclass(frozen=True, slots=True)
class VoiceCatalog:
    """The installed voices and voice variants (e.g. "f3" in "en+f3")."""

    voices: tuple[Voice, ...]
    variants: tuple[str, ...]
    #: casefolded name, identifier or language -> the identifier to select.
    index: Mapping[str, str] = field(repr=False, compare=False)

    @classmethod
    def of(cls, listed: list[Listed], variant_voices: list[Listed]) -> VoiceCatalog:
        """Index voices by identifier, then name, then language (best priority wins)."""
        index: dict[str, str] = {}
        for voice, _ in listed:
            index.setdefault(voice.identifier.casefold(), voice.identifier)
        for voice, _ in listed:
            index.setdefault(voice.name.casefold(), voice.identifier)
        ranked = sorted(
            (priority, order, language.casefold(), voice.identifier)
            for order, (voice, priorities) in enumerate(listed)
            for language, priority in zip(voice.languages, priorities, strict=True)
        )
        for _, _, language, identifier in ranked:
            index.setdefault(language, identifier)
        index.pop("", None)
        variants = tuple(
            voice.identifier.removeprefix(_VARIANT_PREFIX)
            for voice, _ in variant_voices
            if voice.identifier.startswith(_VARIANT_PREFIX)
        )
        return cls(tuple(voice for voice, _ in listed), variants, index)

    def resolve(self, spec: str) -> str | None:
        """The espeak-ng spec for `name|identifier|language[+variant]`, or None if unlisted."""
        base, plus, variant = spec.partition("+")
        identifier = self.index.get(base.strip().casefold())
        if identifier is None or not plus:
            return identifier
        wanted = variant.strip().casefold()
        for known in self.variants:
            if known.casefold() == wanted:
                return f"{identifier}+{known}"
        return None


def read_voices(array: ctypes._Pointer[ctypes._Pointer[VoiceStruct]]) -> list[Listed]:
    """Read the NULL-terminated array `espeak_ListVoices` returns, at most MAX_VOICES entries."""
    voices: list[Listed] = []
    for index in range(MAX_VOICES):
        entry = array[index]
        if not entry:
            break
        voices.append(_voice(entry.contents))
    return voices


def _voice(raw: VoiceStruct) -> Listed:
    ranked = _languages(raw.languages)
    languages = tuple(language for _, language in ranked)
    voice = Voice(
        name=_text(raw.name).strip(),
        identifier=_text(raw.identifier),
        language=languages[0] if languages else "",
        languages=languages,
        gender=_GENDERS.get(raw.gender),
    )
    return voice, tuple(priority for priority, _ in ranked)


def _languages(pointer: int | None) -> list[tuple[int, str]]:
    """Decode `<priority byte><name>\\0 ... \\0`, the list ending at a zero priority byte."""
    if not pointer:
        return []
    found: list[tuple[int, str]] = []
    offset = 0
    while offset < _MAX_LANGUAGES_BYTES:
        priority = ctypes.c_ubyte.from_address(pointer + offset).value
        if not priority:
            break
        name = ctypes.string_at(pointer + offset + 1)
        found.append((priority, name.decode("utf-8", "replace")))
        offset += len(name) + 2
    return found


def _text(value: bytes | None) -> str:
    return value.decode("utf-8", "replace") if value else ""
