"""Pictures people look at, drawn with Pillow alone: a per-class IoU bar chart and side-by-side panels with a
colour legend."""
import math

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from utils.common.files import atomic_path
from utils.data.voc import CLASS_NAMES, IGNORE_LABEL, PALETTE, class_names, colorize
from utils.postprocess.metrics import mean_of_defined

FONT_SIZE = 14
ROW_HEIGHT = 22
BAR_WIDTH = 400
MARGIN = 10
SWATCH = 12
SERIES_COLOURS = ((31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189), (140, 86, 75),
                  (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207))  # ten: a reproduction's rows


def _font():
    """Pillow's bundled font at a readable size."""
    return ImageFont.load_default(size=FONT_SIZE)


def _save(path, img):
    """Write a PNG atomically (temporary name, then rename)."""
    with atomic_path(path) as tmp:
        img.save(tmp, format='PNG')


def _class_colours(classes):
    """{class name: palette colour}, as the class's pixels are drawn: by position for a complete class list
    (`class_names` of its length, e.g. COCO's 81, where 'person' is 1), else by VOC name, else by position."""
    complete = list(classes) == class_names(len(classes))
    indices = [k if complete or name not in CLASS_NAMES else CLASS_NAMES.index(name) for k, name in enumerate(classes)]
    return {name: tuple(int(v) for v in PALETTE[k]) for name, k in zip(classes, indices)}


def _defined(value):
    """Whether an IoU exists (not None, not NaN)."""
    return value is not None and not math.isnan(value)


def miou_text(per_class_iou):
    """'mIoU 81.6': the mean of the IoUs that exist, in %, as utils.postprocess.metrics averages them; 'mIoU n/a'
    if none."""
    miou = mean_of_defined(list(per_class_iou.values()))
    return 'mIoU n/a' if math.isnan(miou) else f'mIoU {100 * miou:.1f}'


def chart_texts(series, title):
    """(title, legend entries) of a chart of {result name: {class: IoU}}: each result's name and mIoU in the
    legend, or for a single result its mIoU after the title and no legend."""
    if len(series) == 1:
        return f'{title}, {miou_text(next(iter(series.values())))}', []
    return title, [f'{name}  {miou_text(values)}' for name, values in series.items()]


def _entry_width(font, text):
    """Pixels a legend entry takes: swatch, gap, text and the space before the next entry."""
    return SWATCH + 4 + int(font.getlength(text)) + 2 * MARGIN


def _draw_entry(draw, font, x, y, colour, text):
    """A legend entry in the ROW_HEIGHT row whose top-left corner is (x, y): outlined colour swatch, then text."""
    draw.rectangle([x, y + 4, x + SWATCH, y + 4 + SWATCH], fill=colour, outline='black')
    draw.text((x + SWATCH + 4, y + 2), text, fill='black', font=font)


def iou_bar_chart(path, per_class_iou, title='Per-class IoU'):
    """Horizontal bar chart PNG of IoU (0..1 or None) per class.

    `per_class_iou` is {class: IoU} for one result, or {result name: {class: IoU}} to compare several:
    grouped bars with a legend. A single result's bars take the palette colour its class is drawn in. Each result's
    mIoU follows its name in the legend (in the title for one result). Classes with no IoU in any result
    (absent from ground truth and predictions) are left out and counted in the title.
    """
    first = next(iter(per_class_iou.values()))
    series = per_class_iou if isinstance(first, dict) else {'': per_class_iou}
    every_class = list(next(iter(series.values())))
    classes = [c for c in every_class if any(_defined(values.get(c)) for values in series.values())]
    class_colours = _class_colours(every_class)
    title, legend = chart_texts(series, title)
    absent = len(every_class) - len(classes)
    if absent:
        title += f' ({absent} {"class" if absent == 1 else "classes"} absent everywhere left out)'
    font = _font()
    label_width = max(int(font.getlength(c)) for c in classes) + 2 * MARGIN
    value_width = int(font.getlength('100.0')) + MARGIN
    group = ROW_HEIGHT * len(series)
    top = ROW_HEIGHT + MARGIN + (ROW_HEIGHT if legend else 0)
    legend_width = sum(_entry_width(font, text) for text in legend)
    width = max(label_width + BAR_WIDTH + value_width + MARGIN, legend_width + MARGIN,
                int(font.getlength(title)) + 2 * MARGIN)
    height = top + group * len(classes) + MARGIN * (len(classes) + 1)
    img = Image.new('RGB', (width, height), 'white')
    draw = ImageDraw.Draw(img)
    draw.text((MARGIN, MARGIN // 2), title, fill='black', font=font)
    x = MARGIN
    for s, text in enumerate(legend):
        _draw_entry(draw, font, x, ROW_HEIGHT, SERIES_COLOURS[s % len(SERIES_COLOURS)], text)
        x += _entry_width(font, text)
    for c, cls in enumerate(classes):
        y0 = top + MARGIN + c * (group + MARGIN)
        draw.text((MARGIN, y0 + (group - FONT_SIZE) // 2), cls, fill='black', font=font)
        for s, values in enumerate(series.values()):
            value = values.get(cls)
            y = y0 + s * ROW_HEIGHT
            colour = class_colours[cls] if not legend else SERIES_COLOURS[s % len(SERIES_COLOURS)]
            if not _defined(value):
                draw.text((label_width, y + 3), 'n/a', fill='gray', font=font)
                continue
            end = label_width + int(round(BAR_WIDTH * min(max(value, 0.0), 1.0)))
            draw.rectangle([label_width, y + 2, max(end, label_width + 1), y + ROW_HEIGHT - 3], fill=colour,
                           outline='black')
            draw.text((end + 4, y + 3), f'{100 * value:.1f}', fill='black', font=font)
    _save(path, img)


def _as_rgb(panel):
    """An RGB uint8 picture of a panel: HxWx3 arrays as they are, HxW label maps in VOC colours."""
    panel = np.asarray(panel)
    if panel.ndim == 2:
        return colorize(panel)
    if panel.ndim == 3 and panel.shape[2] == 3:
        return panel.astype(np.uint8)
    raise ValueError(f'panel of shape {panel.shape} is neither HxWx3 nor an HxW label map')


def legend_entries(label_maps, names=None):
    """(value, name) of every value in the label maps, ascending: `names[value]` (default: the VOC classes),
    'void' for 255, the bare number for a value beyond the names."""
    names = list(names) if names is not None else class_names()
    values = np.unique(np.concatenate([np.unique(m) for m in label_maps])) if label_maps else []
    return [(int(v), 'void' if v == IGNORE_LABEL else names[v] if v < len(names) else str(v)) for v in values]


def _legend_places(entries, font, width):
    """(x, row) of each legend entry, filling rows `width` pixels wide from the left."""
    places, x, row = [], MARGIN, 0
    for _, name in entries:
        if x > MARGIN and x + _entry_width(font, name) > width:
            x, row = MARGIN, row + 1
        places.append((x, row))
        x += _entry_width(font, name)
    return places


def side_by_side(path, panels, titles=None, names=None):
    """PNG of panels in one row (image | prediction | ground truth ...), each under its title, and a legend
    row under them: swatch and name of every class in the label-map panels (`legend_entries`, `names`).

    Panels are HxWx3 uint8 images or HxW label maps (coloured with the VOC palette); shorter panels are
    padded with white at the bottom, and a panel narrower than its title with white on the right.
    """
    pictures = [_as_rgb(p) for p in panels]
    titles = list(titles or [''] * len(pictures))
    if len(titles) != len(pictures):
        raise ValueError(f'{len(pictures)} panels but {len(titles)} titles')
    font = _font()
    entries = legend_entries([np.asarray(p) for p in panels if np.ndim(p) == 2], names)
    header = ROW_HEIGHT + MARGIN if any(titles) else 0
    columns = [max(p.shape[1], int(font.getlength(t))) for p, t in zip(pictures, titles)]
    width = max([sum(columns) + MARGIN * (len(pictures) + 1)] +
                [_entry_width(font, name) + MARGIN for _, name in entries])
    places = _legend_places(entries, font, width)
    panels_bottom = max(p.shape[0] for p in pictures) + header + MARGIN
    rows = places[-1][1] + 1 if places else 0
    img = Image.new('RGB', (width, panels_bottom + rows * ROW_HEIGHT + MARGIN), 'white')
    draw = ImageDraw.Draw(img)
    x = MARGIN
    for picture, title, column in zip(pictures, titles, columns):
        draw.text((x, MARGIN), title, fill='black', font=font)
        img.paste(Image.fromarray(picture), (x, MARGIN + header))
        x += column + MARGIN
    for (value, name), (x, row) in zip(entries, places):
        _draw_entry(draw, font, x, panels_bottom + row * ROW_HEIGHT, tuple(int(c) for c in PALETTE[value]), name)
    _save(path, img)
