"""The IoU bar chart (with each result's mIoU) and side-by-side panels (with a class legend) are PNGs showing
what they claim."""
import numpy as np
import pytest
from PIL import Image

from utils.data.voc import PALETTE, class_names
from utils.postprocess import metrics, plots

SWATCH_PIXELS = (plots.SWATCH - 1) ** 2  # inside the black outline


def test_iou_bar_chart_writes_a_png_with_class_coloured_bars(tmp_path):
    path = tmp_path / 'iou.png'
    plots.iou_bar_chart(str(path), {'background': 0.9, 'aeroplane': 0.5, 'bicycle': None}, title='val')
    img = np.asarray(Image.open(path).convert('RGB'))
    colours = {tuple(c) for c in img.reshape(-1, 3)}
    assert tuple(PALETTE[1]) in colours and tuple(PALETTE[0]) in colours
    assert tuple(PALETTE[2]) not in colours  # no bar for a class without IoU
    assert not list(tmp_path.glob('.*'))  # no temporary file left


def test_a_complete_coco_class_list_is_coloured_as_its_label_values_are(tmp_path):
    path = tmp_path / 'iou.png'
    per_class = dict.fromkeys(class_names(81))
    per_class['person'] = 0.5
    plots.iou_bar_chart(str(path), per_class)
    colours = {tuple(c) for c in np.asarray(Image.open(path).convert('RGB')).reshape(-1, 3)}
    assert tuple(PALETTE[1]) in colours and tuple(PALETTE[15]) not in colours  # COCO person is 1, VOC's 15


def test_longer_bar_for_higher_iou(tmp_path):
    path = tmp_path / 'iou.png'
    plots.iou_bar_chart(str(path), {'aeroplane': 0.25, 'bicycle': 1.0})
    img = np.asarray(Image.open(path).convert('RGB'))
    widths = [np.all(img == PALETTE[c], axis=2).any(axis=0).sum() for c in (1, 2)]
    assert widths[1] > 3 * widths[0]


def test_classes_without_iou_anywhere_are_left_out_of_the_chart(tmp_path):
    full, sparse = tmp_path / 'full.png', tmp_path / 'sparse.png'
    plots.iou_bar_chart(str(full), {'a': {'background': 0.9, 'aeroplane': 0.5, 'bird': 0.1},
                                    'b': {'background': 0.8, 'aeroplane': None, 'bird': 0.2}})
    plots.iou_bar_chart(str(sparse), {'a': {'background': 0.9, 'aeroplane': 0.5, 'bird': None},
                                      'b': {'background': 0.8, 'aeroplane': None, 'bird': None}})
    assert Image.open(sparse).size[1] < Image.open(full).size[1]


def test_iou_bar_chart_compares_several_results(tmp_path):
    path = tmp_path / 'iou.png'
    plots.iou_bar_chart(str(path), {'a': {'background': 0.9, 'aeroplane': 0.5}, 'b': {'background': 0.8,
                                                                                        'aeroplane': 0.6}})
    img = np.asarray(Image.open(path).convert('RGB'))
    colours = {tuple(c) for c in img.reshape(-1, 3)}
    assert plots.SERIES_COLOURS[0] in colours and plots.SERIES_COLOURS[1] in colours


def test_side_by_side_places_images_and_coloured_labels(tmp_path):
    image = np.full((20, 30, 3), 200, dtype=np.uint8)
    label = np.full((20, 30), 15, dtype=np.uint8)
    path = tmp_path / 'panel.png'
    plots.side_by_side(str(path), [image, label, label[:10]], ['a', 'b', 'c'])
    img = np.asarray(Image.open(path).convert('RGB'))
    assert img.shape[1] == 3 * 30 + 4 * plots.MARGIN
    person = np.all(img == PALETTE[15], axis=2)
    assert person.sum() == 20 * 30 + 10 * 30 + SWATCH_PIXELS
    assert np.all(img == 200, axis=2).sum() >= 20 * 30


def test_a_title_wider_than_its_panel_widens_its_column(tmp_path):
    label = np.full((20, 4), 15, dtype=np.uint8)
    path = tmp_path / 'panel.png'
    plots.side_by_side(str(path), [label, label], ['a long title', 'b'])
    img = np.asarray(Image.open(path).convert('RGB'))
    panel_rows = img[plots.ROW_HEIGHT + 2 * plots.MARGIN:][:20]
    person_columns = np.flatnonzero(np.all(panel_rows == PALETTE[15], axis=2).any(axis=0))
    title_width = int(plots._font().getlength('a long title'))
    assert person_columns.tolist() == [*range(plots.MARGIN, plots.MARGIN + 4),
                                       *range(2 * plots.MARGIN + title_width, 2 * plots.MARGIN + title_width + 4)]


def test_miou_text_averages_the_classes_that_have_an_iou():
    assert plots.miou_text({'background': 0.9, 'aeroplane': None, 'bicycle': float('nan'), 'bird': 0.5}) == \
        'mIoU 70.0'
    assert plots.miou_text({'background': None, 'aeroplane': float('nan')}) == 'mIoU n/a'


def test_miou_text_agrees_with_the_score_table():
    gt = np.array([[0, 0, 1, 1], [0, 2, 2, 255]], dtype=np.uint8)
    pred = np.array([[0, 1, 1, 1], [0, 2, 0, 0]], dtype=np.uint8)
    scores = metrics.summary(metrics.confusion_matrix(gt, pred, num_classes=4))  # class 3 has no IoU
    assert scores['per_class_iou']['bird'] is None
    assert plots.miou_text(scores['per_class_iou']) == f'mIoU {100 * scores["miou"]:.1f}'


def test_chart_shows_each_results_miou_in_the_legend_or_the_title_for_one():
    one = {'background': 0.9, 'aeroplane': None}
    assert plots.chart_texts({'val': one}, 'IoU') == ('IoU, mIoU 90.0', [])
    assert plots.chart_texts({'no CRF': one, 'CRF': {'background': 0.8, 'aeroplane': 0.6}}, 'IoU') == (
        'IoU', ['no CRF  mIoU 90.0', 'CRF  mIoU 70.0'])


def test_legend_lists_every_class_of_the_label_maps_once_and_void_last():
    prediction = np.array([[15, 0], [0, 15]], dtype=np.uint8)
    truth = np.array([[15, 255], [0, 3]], dtype=np.uint8)
    assert plots.legend_entries([prediction, truth]) == [(0, 'background'), (3, 'bird'), (15, 'person'),
                                                         (255, 'void')]


def test_legend_takes_the_callers_class_names():
    label = np.array([[0, 3, 9]], dtype=np.uint8)
    assert plots.legend_entries([label], ['sky', 'road', 'car', 'tree']) == [(0, 'sky'), (3, 'tree'), (9, '9')]


def test_side_by_side_draws_a_swatch_for_each_class_of_the_label_panels_only(tmp_path):
    image = np.full((10, 10, 3), 12, dtype=np.uint8)  # pixel values of 12 ("dog") are not a dog in the legend
    prediction = np.full((10, 10), 1, dtype=np.uint8)
    prediction[:4] = 15
    truth = np.full((10, 10), 2, dtype=np.uint8)
    truth[0] = 255
    path = tmp_path / 'panel.png'
    plots.side_by_side(str(path), [image, prediction, truth], ['image', 'prediction', 'ground truth'])
    img = np.asarray(Image.open(path).convert('RGB'))

    def pixels(value):
        return np.all(img == PALETTE[value], axis=2).sum()

    assert pixels(12) == 0
    for value, in_panels in ((1, 60), (15, 40), (2, 90), (255, 10)):
        assert pixels(value) == in_panels + SWATCH_PIXELS, value


def test_a_panel_that_is_neither_a_picture_nor_a_label_map_is_refused_in_one_line(tmp_path):
    with pytest.raises(ValueError) as err:
        plots.side_by_side(str(tmp_path / 'panel.png'), [np.zeros((4, 5, 4), dtype=np.uint8)])
    assert str(err.value) == 'panel of shape (4, 5, 4) is neither HxWx3 nor an HxW label map'
    assert not list(tmp_path.iterdir())


def test_legend_of_no_label_maps_is_empty_and_the_first_value_past_the_names_is_a_number():
    assert plots.legend_entries([]) == []
    assert plots.legend_entries([np.array([[1, 2]], dtype=np.uint8)], ['sky', 'road']) == [(1, 'road'), (2, '2')]


def test_a_title_wider_than_the_bars_sets_the_chart_width(tmp_path):
    path = tmp_path / 'iou.png'
    title = 'a title much wider than the bars of the chart, ' * 3
    plots.iou_bar_chart(str(path), {'background': 0.5}, title=title)
    full_title = f'{title}, mIoU 50.0'
    assert Image.open(path).size[0] == int(plots._font().getlength(full_title)) + 2 * plots.MARGIN


def test_a_chart_saved_under_a_name_without_png_extension_is_a_png_all_the_same(tmp_path):
    path = tmp_path / 'chart'
    plots.iou_bar_chart(str(path), {'background': 0.5})
    with Image.open(path) as img:
        assert img.format == 'PNG'
    assert [p.name for p in tmp_path.iterdir()] == ['chart']


def test_panels_with_titles_for_another_number_of_panels_are_refused_naming_both_counts(tmp_path):
    label = np.zeros((4, 4), dtype=np.uint8)
    with pytest.raises(ValueError) as err:
        plots.side_by_side(str(tmp_path / 'panel.png'), [label, label], ['only one'])
    assert str(err.value) == '2 panels but 1 titles'
    assert not list(tmp_path.iterdir())


def test_pictures_without_label_maps_have_no_legend_row(tmp_path):
    image = np.full((20, 30, 3), 200, dtype=np.uint8)
    path = tmp_path / 'panel.png'
    plots.side_by_side(str(path), [image])
    img = np.asarray(Image.open(path).convert('RGB'))
    assert img.shape == (20 + 2 * plots.MARGIN, 30 + 2 * plots.MARGIN, 3)
    assert np.all(img[plots.MARGIN:-plots.MARGIN, plots.MARGIN:-plots.MARGIN] == 200)


def test_a_legend_entry_wider_than_the_panels_widens_the_picture_to_hold_it(tmp_path):
    name = 'a class name far wider than its tiny panel'
    path = tmp_path / 'panel.png'
    plots.side_by_side(str(path), [np.zeros((4, 4), dtype=np.uint8)], names=[name])
    text_width = int(plots._font().getlength(name))
    # margin, swatch, gap of 4, the name, and the entry's own two margins
    assert Image.open(path).size[0] == plots.MARGIN + plots.SWATCH + 4 + text_width + 2 * plots.MARGIN


def _legend_rows(img, panel_height):
    """How many ROW_HEIGHT legend rows are under panels `panel_height` high (no titles)."""
    legend = img.shape[0] - (panel_height + plots.MARGIN) - plots.MARGIN
    assert legend % plots.ROW_HEIGHT == 0
    return legend // plots.ROW_HEIGHT


@pytest.mark.parametrize('spare, rows', [(0, 1), (-1, 2)])
def test_a_legend_entry_ending_exactly_at_the_right_edge_stays_on_its_row(tmp_path, spare, rows):
    font = plots._font()
    fit = plots.MARGIN + plots._entry_width(font, 'sky') + plots._entry_width(font, 'road')
    label = np.zeros((6, fit - 2 * plots.MARGIN + spare), dtype=np.uint8)  # one panel: width is its own + 2 margins
    label[:, 0] = 1
    path = tmp_path / 'panel.png'
    plots.side_by_side(str(path), [label], names=['sky', 'road'])
    img = np.asarray(Image.open(path).convert('RGB'))
    assert img.shape[1] == fit + spare
    assert _legend_rows(img, 6) == rows
    road = np.argwhere(np.all(img[6 + plots.MARGIN:] == PALETTE[1], axis=2))  # the second swatch, in its outline
    left, top = road[:, 1].min() - 1, road[:, 0].min() - 1
    assert (left, top) == ((plots.MARGIN + plots._entry_width(font, 'sky'), 4) if rows == 1 else
                           (plots.MARGIN, plots.ROW_HEIGHT + 4))
