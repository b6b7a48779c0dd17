"""RESULTS.md of a reproduction run: every result row with this run's mIoU next to the original project's and the
published one, the wall time of each stage, the per-class IoU table and chart, and the tarballs to upload."""
import os
import time

from utils.common.files import read_json_object
from utils.data.voc import CLASS_NAMES
from utils.postprocess.crf import NO_CRF_JSON
from utils.reproduce.plan import STAGE_NAMES, SUBMISSIONS, Layout, build_plan, row_description
from utils.reproduce.run import stage_times
from utils.reproduce.sources import ROWS
from utils.runtime.model_config import DEFAULT_PRECISION

TUNED = ('stack_hard_crf', 'stack_soft_crf')  # rows whose parameters were chosen on val_tune


def _load(path, what='scores file'):
    """A scores JSON of evaluate.py ({folder: summary}), or {} when the stage has not run; a file that is not a
    JSON object is a UserError naming it."""
    if not os.path.isfile(path):
        return {}
    return read_json_object(path, what)


def _percent(summary):
    """mIoU of an evaluate.py summary in %, or a dash when there is none."""
    return '—' if not summary or summary.get('miou') is None else f'{100 * summary["miou"]:.2f}'


def _count(path):
    """Number of ids in a list file (0 before the labels stage made it)."""
    if not os.path.isfile(path):
        return 0
    with open(path, encoding='utf-8') as handle:
        return sum(1 for line in handle if line.strip())


def _no_crf_note(layout, name):
    """For a CRF row whose tuning chose no CRF: a note that it equals its input."""
    source = name[:-len('_crf')]
    if name not in TUNED or _load(layout.crf_params(source), 'CRF parameter file') != NO_CRF_JSON:
        return ''
    return f'; no CRF setting beat {source} on val_tune, so none was applied: it equals {source}'


def rows_table(layout, quick):
    """The original project's table with this run's columns: mIoU on the whole val list and on val_check."""
    val = _load(os.path.join(layout.scores, 'val.json'))
    check = _load(os.path.join(layout.scores, 'val_check.json'))
    lines = [f'| row | what it is | published mIoU % | original project % (split) | '
             f'this run: val ({_count(layout.list("val"))}) | '
             f'this run: val_check ({_count(layout.list("val_check"))}) |', '| --- | --- | --- | --- | --- | --- |']
    for name, row in ROWS.items():
        whole = '— (tuned on half of val)' if name in TUNED else _percent(val.get(name))
        described = f'{row_description(name, quick)}{_no_crf_note(layout, name)}'
        lines.append(f'| {name} | {described} | {row.published or "—"} | {row.original or "—"} | '
                     f'{whole} | {_percent(check.get(name))} |')
    return '\n'.join(lines)


def stages_table(layout, quick):
    """One row per stage: what it does and how long it took in this run."""
    times = stage_times(layout)
    descriptions = {stage.name: stage.description for stage in build_plan(layout, quick)}
    lines = ['| stage | what it does | wall time here |', '| --- | --- | --- |']
    for name in STAGE_NAMES:
        seconds = times.get(name)
        took = f'{seconds:.0f} s' if seconds is not None else ('writing this file' if name == 'report' else '—')
        lines.append(f'| {name} | {descriptions[name]} | {took} |')
    return '\n'.join(lines)


def per_class_table(layout):
    """Per-class IoU (%) on val_check, one column per result row."""
    check = _load(os.path.join(layout.scores, 'val_check.json'))
    names = [name for name in ROWS if name in check]
    if not names:
        return 'No val_check scores yet (the report stage scores them).'
    lines = ['| class | ' + ' | '.join(names) + ' |', '| --- |' + ' --- |' * len(names)]
    for cls in CLASS_NAMES:
        values = [check[n]['per_class_iou'].get(cls) for n in names]
        lines.append(f'| {cls} | ' + ' | '.join('n/a' if v is None else f'{100 * v:.2f}' for v in values) + ' |')
    return '\n'.join(lines)


def submissions_list(layout, quick):
    """A line per server tarball: the file and what it holds."""
    lines = []
    for name in SUBMISSIONS:
        path = layout.submission(name)
        state = '' if os.path.isfile(path) else ' (not made yet)'
        lines.append(f'- `{os.path.relpath(path, layout.work)}`{state}: {row_description(name, quick)}. Upload it at '
                     'the PASCAL VOC evaluation server as a comp6 (outside training data) segmentation result.')
    return '\n'.join(lines)


def results_markdown(work_dir, quick=False, precision=DEFAULT_PRECISION):
    """The whole RESULTS.md text of the run in `work_dir`, whose training and checkpoint predictions ran in
    `precision`."""
    layout = Layout(work_dir)
    mode = ('quick run (--quick: ResNet-v2-50, two training steps, a few images): the numbers show the chain '
            'works, not what the models reach' if quick else 'full run (seed and published settings)')
    mode += f'; training and checkpoint predictions in {precision}'
    if precision != DEFAULT_PRECISION:
        mode += ' (the published numbers are float32)'

    parts = [
        '# Reproduction results', '',
        f'{mode}; written {time.strftime("%Y-%m-%d %H:%M")} by `write_results.py`. mIoU in %, VOC devkit '
        'definition. val_check is every second val image (odd positions); the CRF rows were tuned on the other '
        'half (val_tune), so only val_check scores them fairly. This run scores val only; the published and the '
        'original project\'s numbers carry their own split (it names one for its DeepLabv3 row alone).', '',
        '## Every row', '', rows_table(layout, quick), '',
        '## Stages', '', stages_table(layout, quick), '',
        '## Per-class IoU on val_check', '', per_class_table(layout), '',
        '![Per-class IoU on val_check](iou_val_check.png)', '',
        '## PASCAL server tarballs (test set)', '', submissions_list(layout, quick), '',
    ]
    return '\n'.join(parts)
