# Part of gelato_connector. See LICENSE file for full copyright and licensing details.
"""Measure Gelato print files from their bytes (pure: no Odoo, no network).

`measure` tells the format of a file and, for pictures, its size in pixels, without decoding
the pixels: it reads the header, then checks that the file is whole (every chunk of a PNG and its
checksum, the end of a JPEG's scan, the strips of a TIFF within the file). Odoo lets Pillow load
truncated pictures (`ImageFile.LOAD_TRUNCATED_IMAGES`, set by `ir.actions.report`), so decoding
would prove nothing more; and a file announcing more pixels than Pillow's decompression bomb
limit is refused from its header. `assess` compares a measured picture with a print area.
"""

import io
import math
import re

from PIL import Image, JpegImagePlugin, PngImagePlugin, TiffImagePlugin

# Gelato's design requirements: "Images should have a resolution of at least 300 dpi".
RECOMMENDED_DPI = 300
RECOMMENDED_DPI_SOURCE = ('https://support.gelatoglobe.com/hc/en-us/articles/115002989205-'
                          'Design-Requirements-for-Gelato')
# The formats of Gelato's order API: "PDF, PNG, TIFF, SVG and JPEG".
FORMATS_SOURCE = 'https://dashboard.gelato.com/docs/orders/v4/create'
PIXEL_FORMATS = ('PNG', 'JPEG', 'TIFF')
VECTOR_FORMATS = ('PDF', 'SVG')  # Accepted without a pixel check.
ACCEPTED_FORMATS = PIXEL_FORMATS + VECTOR_FORMATS
# A picture whose proportions differ from the print area's by more than this is another shape.
SHAPE_TOLERANCE = 0.02
MM_PER_INCH = 25.4
# More parts than any print file has: a PNG's chunks, a TIFF's strips or tiles.
MAX_PNG_CHUNKS = 10_000
MAX_TIFF_STRIPS = 100_000

_PLUGINS = {
    'PNG': PngImagePlugin.PngImageFile,
    'JPEG': JpegImagePlugin.JpegImageFile,
    'TIFF': TiffImagePlugin.TiffImageFile,
}
# Signatures of the formats told apart, Gelato's and some it does not take (to name them).
_SIGNATURES = (
    ('PNG', re.compile(rb'\x89PNG\r\n\x1a\n')),
    ('JPEG', re.compile(rb'\xff\xd8\xff')),
    ('TIFF', re.compile(rb'II\*\x00|MM\x00\*')),
    ('GIF', re.compile(rb'GIF8[79]a')),
    ('WEBP', re.compile(rb'RIFF.{4}WEBP', re.DOTALL)),
    ('BMP', re.compile(rb'BM.{12}[\x0c-\x7c]\x00\x00\x00', re.DOTALL)),
    ('HEIC', re.compile(rb'.{4}ftyp(heic|heix|hevc|heim|heis|mif1|msf1)', re.DOTALL)),
    ('AVIF', re.compile(rb'.{4}ftypavi[fs]', re.DOTALL)),
    ('PSD', re.compile(rb'8BPS')),
    ('EPS', re.compile(rb'%!PS|\xc5\xd0\xd3\xc6')),
    ('TIFF', re.compile(rb'II\+\x00|MM\x00\+')),  # BigTIFF, which Pillow does not read
)
_SVG = re.compile(r'<svg[\s>/]', re.IGNORECASE)


def max_pixels():
    """The number of pixels above which a picture is not read: Pillow's decompression bomb
    limit (`PIL.Image.MAX_IMAGE_PIXELS`, twice which Pillow raises `DecompressionBombError`)."""
    return 2 * (Image.MAX_IMAGE_PIXELS or 89_478_485)


def sniff(data):
    """Return the format of a file from its first bytes, or None when it is not one known here.

    :param bytes data: The file.
    :rtype: str | None
    """
    head = data[:1024]
    if b'%PDF-' in head:
        return 'PDF'
    for name, signature in _SIGNATURES:
        if signature.match(head):
            return name
    text = data[:65536].decode('utf-8', 'ignore').lstrip('\ufeff \t\r\n')
    if text.startswith('<') and _SVG.search(text):
        return 'SVG'
    return None


def measure(data):
    """Measure a print file.

    :param bytes data: The file.
    :return: `format` (see `sniff`), `width` and `height` in pixels (pictures, as shown, EXIF
             orientation applied) and `error`: None, `format` (not a format Gelato prints),
             `corrupt` (could not be read) or `too_large` (more pixels than `max_pixels()`).
    :rtype: dict
    """
    result = {'format': sniff(data or b''), 'width': None, 'height': None, 'error': None}
    fmt = result['format']
    if fmt not in ACCEPTED_FORMATS:
        result['error'] = 'format'
        return result
    if fmt in VECTOR_FORMATS:
        return result
    if _too_many_parts(fmt, data):
        # A structure no print file has (a crafted PNG of countless chunks, a TIFF of a million
        # strips): refused from its layout, before Pillow walks it.
        result['error'] = 'corrupt'
        return result
    try:
        # The plugin is used directly, not `Image.open`: no other format is tried, and the size
        # is checked here before anything is decoded.
        picture = _PLUGINS[fmt](io.BytesIO(data))  # Reads the header only.
        width, height = picture.size
        if width < 1 or height < 1:
            raise ValueError("no pixels")
        if width * height > max_pixels():
            result.update(width=width, height=height, error='too_large')
            return result
        if _orientation(picture) in (5, 6, 7, 8):  # Shown rotated by a quarter turn.
            width, height = height, width
        _prove_readable(picture, fmt, data)
    except Image.DecompressionBombError:
        result['error'] = 'too_large'
        return result
    except Exception:  # noqa: BLE001 - whatever Pillow raises on bad bytes means "unreadable"
        result['error'] = 'corrupt'
        return result
    result.update(width=width, height=height)
    return result


def _too_many_parts(fmt, data):
    """Whether a PNG has more than `MAX_PNG_CHUNKS` chunks, or a TIFF's first image more than
    `MAX_TIFF_STRIPS` strips or tiles: read from the file's layout alone (chunk lengths, the
    first directory's entries), in time bounded by those limits."""
    if fmt == 'PNG':
        offset, chunks, size = 8, 0, len(data)
        while offset + 8 <= size:
            chunks += 1
            if chunks > MAX_PNG_CHUNKS:
                return True
            length = int.from_bytes(data[offset:offset + 4], 'big')
            if data[offset + 4:offset + 8] == b'IEND':
                return False
            offset += 12 + length
        return False
    if fmt == 'TIFF' and data[:2] in (b'II', b'MM') and len(data) >= 8:
        order = 'little' if data[:2] == b'II' else 'big'
        if int.from_bytes(data[2:4], order) != 42:
            return False  # BigTIFF: Pillow refuses it anyway.
        ifd = int.from_bytes(data[4:8], order)
        if ifd + 2 > len(data):
            return False
        entries = int.from_bytes(data[ifd:ifd + 2], order)
        for n in range(min(entries, 4096)):
            entry = ifd + 2 + 12 * n
            if entry + 12 > len(data):
                break
            tag = int.from_bytes(data[entry:entry + 2], order)
            count = int.from_bytes(data[entry + 4:entry + 8], order)
            if tag in (273, 279, 324, 325) and count > MAX_TIFF_STRIPS:
                return True
    return False


def _orientation(picture):
    try:
        if isinstance(picture, TiffImagePlugin.TiffImageFile):
            return picture.tag_v2.get(274)
        if isinstance(picture, JpegImagePlugin.JpegImageFile):
            return picture.getexif().get(274)
    except Exception:  # noqa: BLE001 - a broken EXIF block only loses the orientation
        return None
    return None  # A PNG's EXIF may follow its pixels: not read.


def _prove_readable(picture, fmt, data):
    """Raise when the picture is not whole, without decoding its pixels."""
    if fmt == 'PNG':
        picture.verify()  # Every chunk up to IEND, and the checksum of the critical ones.
    elif fmt == 'JPEG':
        # The scan ends with an EOI marker, which cannot occur inside it (0xFF is stuffed).
        if data.find(b'\xff\xd9', picture.tile[0][2]) < 0:
            raise ValueError("incomplete JPEG")
    else:
        offsets = picture.tag_v2.get(273) or picture.tag_v2.get(324) or ()
        counts = picture.tag_v2.get(279) or picture.tag_v2.get(325) or ()
        if not offsets or len(offsets) != len(counts) or any(
                offset + count > len(data) for offset, count in zip(offsets, counts, strict=True)):
            raise ValueError("incomplete TIFF")


def assess(measurement, size_mm):
    """Compare a measured print file with the size of its print area.

    :param dict measurement: What `measure` returned.
    :param size_mm: The print area's `(width, height)` in millimetres, or None when unknown.
    :return: `checked` (whether the resolution and shape were checked), `reason` (why not:
             `error`, `vector`, `unmeasured` or `no_size`), `dpi` (the lower of the width's and
             the height's), `low_resolution`, `other_shape`, `shape_off` (how far the
             proportions differ, 0.33 for 33 %) and `needed_pixels` (the size for the
             recommended resolution).
    :rtype: dict
    """
    result = {'checked': False, 'reason': None, 'dpi': None, 'low_resolution': False,
              'other_shape': False, 'shape_off': 0.0, 'needed_pixels': None}
    if measurement.get('error'):
        result['reason'] = 'error'
    elif measurement.get('format') in VECTOR_FORMATS:
        result['reason'] = 'vector'
    elif not measurement.get('width') or not measurement.get('height'):
        result['reason'] = 'unmeasured'
    elif not size_mm:
        result['reason'] = 'no_size'
    if result['reason']:
        return result
    width_mm, height_mm = size_mm
    width, height = measurement['width'], measurement['height']
    dpi = min(width / (width_mm / MM_PER_INCH), height / (height_mm / MM_PER_INCH))
    picture_ratio, area_ratio = width / height, width_mm / height_mm
    shape_off = max(picture_ratio, area_ratio) / min(picture_ratio, area_ratio) - 1
    result.update(
        checked=True, dpi=dpi,
        low_resolution=round(dpi) < RECOMMENDED_DPI,
        other_shape=shape_off > SHAPE_TOLERANCE,
        shape_off=shape_off,
        needed_pixels=needed_pixels(size_mm),
    )
    return result


def needed_pixels(size_mm):
    """Return the `(width, height)` in pixels a picture needs to be printed at `size_mm`
    (millimetres) at the recommended resolution."""
    return tuple(math.ceil(round(mm / MM_PER_INCH * RECOMMENDED_DPI, 6)) for mm in size_mm)


def placeholder_size(placeholder):
    """Return the `(width, height)` in millimetres of a template's image placeholder, or None
    when it gives none that can be used."""
    if not isinstance(placeholder, dict):
        return None
    size = []
    for key in ('width', 'height'):
        value = placeholder.get(key)
        if isinstance(value, bool) or not isinstance(value, (int, float)) \
                or not math.isfinite(value) or not 0 < value <= 100_000:
            return None
        size.append(round(float(value), 3))
    return tuple(size)
