"""The marker structure of a JPEG file, read without decoding a pixel: where its first picture ends and
which scans it holds.

A progressive JPEG codes its picture in several scans (ITU-T T.81, annex G): each names its components,
a band of coefficients (spectral selection, Ss to Se) and which of their bits it carries (successive
approximation, Ah to Al). Cut between two scans and closed with an end-of-image marker, it decodes to a
blurred picture without even a warning from libjpeg: every scan it was given is whole. Its headers
tell, though: a whole picture codes every coefficient of every component down to its lowest bit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# A marker: 0xFF and a byte that is not a stuffed 0xFF (0x00), a restart marker or a fill byte.
_MARKER = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")
_EOI, _SOS = 0xD9, 0xDA
_NO_LENGTH = {0x01, 0xD8}  # TEM and SOI: markers without a segment after them
# Start-of-frame markers; 0xC4 (DHT), 0xC8 (reserved) and 0xCC (DAC) share their range.
_START_OF_FRAME = set(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_PROGRESSIVE_FRAMES = {0xC2, 0xC6, 0xCA, 0xCE}  # Huffman or arithmetic coding, hierarchical or not
_EVERY_COEFFICIENT = (1 << 64) - 1  # one bit a coefficient, in zig-zag order


@dataclass(frozen=True)
class Scan:
    components: tuple[int, ...]  # identifiers, as the frame names them
    first: int  # Ss: the band of coefficients, in zig-zag order (0 to 63 in a sequential scan)
    last: int  # Se
    low_bit: int  # Al: the lowest bit of them it codes (0 in a sequential scan)


@dataclass(frozen=True)
class JpegStructure:
    end: int  # where the first picture's end-of-image marker starts; -1 if it has none
    progressive: bool
    components: tuple[int, ...]
    scans: tuple[Scan, ...]

    def codes_the_whole_picture(self) -> bool:
        """Whether the scans before the end marker code all of every component: in a progressive
        picture every coefficient down to bit 0, in any other a scan for each component."""
        if not self.components:
            return False
        if not self.progressive:
            return {component for scan in self.scans for component in scan.components} >= set(self.components)
        finished = dict.fromkeys(self.components, 0)  # a bit for each coefficient coded down to bit 0
        for scan in self.scans:
            if scan.low_bit == 0 and scan.first <= scan.last:
                band = (1 << (scan.last + 1)) - (1 << scan.first)
                for component in finished.keys() & set(scan.components):
                    finished[component] |= band
        return all(coded & _EVERY_COEFFICIENT == _EVERY_COEFFICIENT for coded in finished.values())


def read_structure(data: bytes) -> JpegStructure:
    """Walk the first picture's segments from its start marker to its end marker. A segment is stepped
    over by its length, so markers inside it (an EXIF thumbnail's) are not the picture's; after a scan's
    header the search skips its coded data to the next marker. Data after the end marker (what a camera
    appends, a phone's second picture) is not read."""
    progressive = False
    components: tuple[int, ...] = ()
    scans: list[Scan] = []
    pos = 2
    while found := _MARKER.search(data, pos):
        pos, marker = found.start(), data[found.start() + 1]
        if marker == _EOI:
            return JpegStructure(pos, progressive, components, tuple(scans))
        if marker in _NO_LENGTH:
            pos += 2
            continue
        length = int.from_bytes(data[pos + 2 : pos + 4], "big")  # counts its own two bytes
        segment = data[pos + 4 : pos + 2 + length]
        if marker in _START_OF_FRAME and not components:
            progressive, components = marker in _PROGRESSIVE_FRAMES, _frame_components(segment)
        elif marker == _SOS:
            scans.append(_scan(segment))
        pos += 2 + length
    return JpegStructure(-1, progressive, components, tuple(scans))


def _frame_components(segment: bytes) -> tuple[int, ...]:
    # precision (1 byte), height (2), width (2), count (1), then 3 bytes a component: id, sampling, table
    return tuple(segment[6 : 6 + 3 * segment[5] : 3]) if len(segment) > 5 else ()


def _scan(segment: bytes) -> Scan:
    # count (1 byte), then 2 bytes a component: id, tables; then Ss, Se, and Ah and Al in one byte
    count = segment[0] if segment else 0
    selection = segment[1 + 2 * count : 4 + 2 * count]
    if len(selection) < 3:
        return Scan(components=(), first=0, last=-1, low_bit=0)  # too short to say: codes nothing
    first, last, bits = selection
    return Scan(tuple(segment[1 : 1 + 2 * count : 2]), first, last, bits & 0x0F)
