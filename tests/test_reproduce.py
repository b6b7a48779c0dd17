"""reproduce.py end to end with --quick, on tiny archives in the official layouts served from 127.0.0.1: the run
writes RESULTS.md, a second run does nothing, a run killed during training resumes, a corrupted download is
fetched again, and the --dry_run script gives the same results as the pipeline."""
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import time

import pytest
import tensorflow as tf
from conftest import ROOT
from http_server import closed_port_url, serve
from voc_archives import make_model_archives, make_voc_and_sbd, tar_folder

from utils.common.files import SETTINGS_RECORD
from utils.reproduce.plan import STAGE_NAMES, SUBMISSIONS
from utils.reproduce.sources import ROWS

VOC_TRAIN, VOC_VAL = ['2007_000001', '2007_000002', '2007_000003'], [f'2008_00000{k}' for k in range(1, 7)]
SBD_TRAIN, SBD_VAL = ['2007_000002', '2009_000001', '2008_000001'], ['2009_000002', '2008_000002']
TEST = ['2008_100001', '2008_100002', '2008_100003']
TRAIN_AUG = ['2007_000001', '2007_000002', '2007_000003', '2009_000001', '2009_000002']


def md5(path):
    return hashlib.md5(open(path, 'rb').read()).hexdigest()


@pytest.fixture(scope='module')
def archives(tmp_path_factory):
    """(served folder, VOC2012test.tar, checksum list): the archives a run downloads, and the test tar it is given."""
    served, source = tmp_path_factory.mktemp('served'), tmp_path_factory.mktemp('source')
    make_voc_and_sbd(str(source), VOC_TRAIN, VOC_VAL, SBD_TRAIN, SBD_VAL, TEST)
    tar_folder(str(source / 'voc_trainval'), str(served / 'VOCtrainval_11-May-2012.tar'))
    tar_folder(str(source / 'sbd'), str(served / 'benchmark.tgz'))
    test_tar = tar_folder(str(source / 'voc_test'), str(source / 'VOC2012test.tar'))
    scratch = tmp_path_factory.mktemp('models')
    make_model_archives(str(served), str(scratch))
    shutil.rmtree(scratch)
    checksums = source / 'MD5SUMS'
    checksums.write_text(''.join(f'{md5(served / name)}  {name}\n' for name in sorted(os.listdir(served))))
    yield served, test_tar, str(checksums)
    shutil.rmtree(served)  # about 700 MB: not kept by pytest's tmp dirs


def reproduce_argv(work, url, test_tar, checksums, *extra):
    return [sys.executable, 'reproduce.py', '--work_dir', str(work), '--quick', '--mirror', url,
            '--checksums', checksums, '--voc_test_tar', test_tar, *extra]


def run_killed_during_training(argv, model_dir, log_path):
    """Start a run, SIGKILL it once training has saved its step-1 checkpoint (of 2); returns its output. The
    output goes to a file, so a full pipe can never hold the run up."""
    with open(log_path, 'w') as log:
        process = subprocess.Popen(argv, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline, step_1 = time.time() + 600, os.path.join(model_dir, 'model.ckpt-1.index')
        while process.poll() is None and time.time() < deadline and not os.path.exists(step_1):
            time.sleep(0.05)
        in_training = process.poll() is None and os.path.exists(step_1)
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    with open(log_path) as log:
        output = log.read()
    assert in_training, output
    return output


@pytest.fixture(scope='module')
def pipeline(archives, tmp_path_factory):
    """A quick run whose benchmark.tgz starts corrupt, killed during training, then run again to the end."""
    served, test_tar, checksums = archives
    work = tmp_path_factory.mktemp('work')
    os.makedirs(work / 'downloads')
    (work / 'downloads' / 'benchmark.tgz').write_bytes(b'half a download')
    with serve(served) as (url, log):
        argv = reproduce_argv(work, url, test_tar, checksums)
        killed = run_killed_during_training(argv, str(work / 'models' / 'deeplabv3'), work / 'killed_run.log')
        killed_seconds = json.loads((work / '.reproduce' / 'train.partial.json').read_text())['seconds']
        resumed = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    yield {'work': work, 'served': served, 'killed': killed, 'resumed': resumed.stdout + resumed.stderr, 'argv': argv,
           'killed_train_seconds': killed_seconds, 'url': url}
    for big in ('downloads', 'pretrained', 'zoo', 'models', 'records'):  # about 2 GB: not kept by pytest's tmp dirs
        shutil.rmtree(work / big)


def test_a_corrupted_download_is_detected_and_fetched_again(pipeline):
    assert 'benchmark.tgz: MD5 ' in pipeline['killed'] and 'fetching it again' in pipeline['killed']
    assert md5(pipeline['work'] / 'downloads' / 'benchmark.tgz') == md5(pipeline['served'] / 'benchmark.tgz')


def results_rows(work):
    """{row name: (val cell, val_check cell)} of RESULTS.md's table of every row."""
    rows = {}
    for line in (work / 'RESULTS.md').read_text().split('## Every row')[1].split('## Stages')[0].splitlines():
        cells = [cell.strip() for cell in line.strip().strip('|').split('|')]
        if cells[0] in ROWS:
            rows[cells[0]] = (cells[-2], cells[-1])
    return rows


def test_the_quick_pipeline_writes_results_md_and_the_server_tarballs(pipeline):
    work = pipeline['work']
    val, check = (json.loads((work / 'scores' / name).read_text()) for name in ('val.json', 'val_check.json'))
    rows = results_rows(work)
    assert list(rows) == list(ROWS)
    for name, (whole, half) in rows.items():
        assert half == f'{100 * check[name]["miou"]:.2f}', name
        assert whole == ('— (tuned on half of val)' if name.endswith('_crf') else f'{100 * val[name]["miou"]:.2f}')
    results = (work / 'RESULTS.md').read_text()
    assert '| aeroplane |' in results and (work / 'iou_val_check.png').is_file()
    for name in SUBMISSIONS:
        assert f'submission/{name}_comp6.tar.gz`: ' in results
        with tarfile.open(work / 'submission' / f'{name}_comp6.tar.gz') as tar:
            assert sorted(tar.getnames()) == [f'results/VOC2012/Segmentation/comp6_test_cls/{i}.png' for i in TEST]
    assert (work / 'lists' / 'train_aug.txt').read_text().split() == TRAIN_AUG


def test_results_md_describes_the_quick_mode_and_the_seed_splits(pipeline):
    results = (pipeline['work'] / 'RESULTS.md').read_text()
    assert '| zoo_train_aug_ckpt | the same from its model.ckpt, run at OS 16 (gives probabilities) |' in results
    assert '| deeplabv3 | DeepLabv3 ResNet-v2-50 trained here, single scale |' in results
    assert '| deeplabv3_msflip | DeepLabv3 ResNet-v2-50 trained here, scales 0.75, 1.25 + flip |' in results
    assert 'OS 8 + scales' not in results.split('|')[2]
    assert "75.72 test (the original project's README calls it a VOC 2012 test score)" in results
    assert '88.1 (split not stated)' in results and '| original project % (split) |' in results


def test_the_crf_is_tuned_on_val_tune_only(pipeline):
    """The tuning run's own log lists the images it scored: val_tune's, none of val_check's."""
    work = pipeline['work']
    tune, check = ((work / 'lists' / f'run_{name}.txt').read_text().split() for name in ('val_tune', 'val_check'))
    assert tune and check and not set(tune) & set(check)
    log = pipeline['killed'] + pipeline['resumed']
    tuning = [line for line in log.splitlines()
              if line.startswith('$ python densecrf_inference.py') and '--tune' in line]
    assert len(tuning) == 2 and all(f'--image_list {work}/lists/run_val_tune.txt' in line for line in tuning)


def test_a_killed_stage_counts_the_time_before_the_kill(pipeline):
    seconds = json.loads((pipeline['work'] / '.reproduce' / 'train.json').read_text())['seconds']
    assert seconds >= pipeline['killed_train_seconds']


def test_a_run_killed_during_training_resumes_from_its_checkpoint(pipeline):
    output = pipeline['resumed']
    for stage in ('download', 'extract', 'labels', 'records'):
        assert f'{stage}: done already, skipped' in output
    assert 'Resuming from the latest checkpoint' in output
    assert tf.train.load_variable(str(pipeline['work'] / 'models' / 'deeplabv3'), 'global_step') == 2


def test_a_second_run_does_nothing(pipeline):
    """Its server is gone by now: a run that tried to fetch or redo anything would fail or change files."""
    work = pipeline['work']
    before = {path: os.stat(path).st_mtime_ns for path in (work / 'RESULTS.md', work / 'scores' / 'val_check.json')}
    started = time.time()
    again = subprocess.run(pipeline['argv'], cwd=ROOT, capture_output=True, text=True, check=True)
    assert [f'{name}: done already, skipped' in again.stdout for name in STAGE_NAMES] == [True] * len(STAGE_NAMES)
    assert {path: os.stat(path).st_mtime_ns for path in before} == before
    assert time.time() - started < 30


def tar_contents(path):
    with tarfile.open(path) as tar:
        return {member.name: tar.extractfile(member).read() for member in tar.getmembers()}


def same_tree(left, right):
    """Whether two folders hold the same file names with the same bytes (recursively), settings records aside: they
    hold the absolute paths of the inputs."""
    names = sorted(name for name in os.listdir(left) if name != SETTINGS_RECORD)
    if names != sorted(name for name in os.listdir(right) if name != SETTINGS_RECORD):
        return False
    return all(same_tree(os.path.join(left, n), os.path.join(right, n)) if os.path.isdir(os.path.join(left, n))
               else open(os.path.join(left, n), 'rb').read() == open(os.path.join(right, n), 'rb').read()
               for n in names)


@pytest.fixture(scope='module')
def retrained(pipeline):
    """The pipeline's model trained anew with --stages train --redo, then a plain run redoing what follows."""
    redo = subprocess.run([*pipeline['argv'], '--stages', 'train', '--redo'], cwd=ROOT, capture_output=True, text=True)
    assert redo.returncode == 0, redo.stdout + redo.stderr
    again = subprocess.run(pipeline['argv'], cwd=ROOT, capture_output=True, text=True)
    assert again.returncode == 0, again.stdout + again.stderr
    return {'redo': redo.stdout + redo.stderr, 'again': again.stdout + again.stderr}


def test_redo_retrains_from_the_imagenet_checkpoint_and_the_later_stages_follow(pipeline, retrained):
    redo, again = retrained['redo'], retrained['again']
    assert '=== 5. train: redone: ' in redo and 'Resuming from the latest checkpoint' not in redo
    assert 'redone by the next run: evaluate, stack, crf, package, report' in redo
    assert tf.train.load_variable(str(pipeline['work'] / 'models' / 'deeplabv3'), 'global_step') == 2
    for name in ('download', 'extract', 'labels', 'records', 'train', 'zoo'):  # the zoo rows do not need our model
        assert f'{name}: done already, skipped' in again
    for name in ('evaluate', 'stack', 'crf', 'package', 'report'):
        assert f'{name}: redone, out of date' in again
    made = again.split('=== 6. evaluate')[1]
    kept = re.findall(r'(\d+) of \d+ results exist already', made) + re.findall(r'(\d+) existed already', made)
    assert len(kept) >= 6 and set(kept) == {'0'}, kept  # every result of every stage made anew, none kept


def test_finished_stages_made_with_other_settings_are_refused(pipeline, tmp_path):
    work = pipeline['work']
    stamp = os.stat(work / 'RESULTS.md').st_mtime_ns
    argv = [sys.executable, 'reproduce.py', '--work_dir', str(work), '--voc_test_tar', pipeline['argv'][-1]]
    full = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True)
    assert full.returncode == 2 and full.stderr.count('\n') == 1, full.stderr
    assert full.stderr.startswith(f'error: {work}: stage download finished with other settings (download.py --url ')
    assert '--redo --stages download extract labels records train evaluate zoo' in full.stderr
    mirror = subprocess.run([*pipeline['argv'], '--mirror', 'http://127.0.0.1:9/elsewhere'], cwd=ROOT,
                            capture_output=True, text=True)
    assert mirror.returncode == 2 and 'http://127.0.0.1:9/elsewhere/VOCtrainval_11-May-2012.tar' in mirror.stderr
    assert 'run again with --redo --stages download to redo it' in mirror.stderr
    gpus = subprocess.run([*pipeline['argv'], '--num_gpus', '2'], cwd=ROOT, capture_output=True, text=True)
    assert gpus.returncode == 2 and 'stage train finished with other settings (train.py --num_gpus (not given) -> 2)' \
        in gpus.stderr
    assert os.stat(work / 'RESULTS.md').st_mtime_ns == stamp and not (work / '.reproduce' / 'download.redo').exists()


def test_the_dry_run_script_gives_the_same_results_as_the_pipeline(pipeline, retrained, archives, tmp_path):
    """Every stage after the downloads (records, the model, stack, crf, package, report) as a bash script run
    outside the suite's venv, in a work folder whose unpacked archives and zoo results are links into the
    pipeline's: the seeded, deterministic training gives the same model, so every row is the same."""
    work, copy = pipeline['work'], tmp_path / 'work'
    for part in ('data/voc_trainval', 'data/sbd', 'data/voc_test', 'pretrained', *(f'results/{name}' for name in (
            'zoo_train_aug', 'zoo_train_aug_ckpt', 'zoo_trainval', 'zoo_trainval_ckpt'))):
        os.makedirs((copy / part).parent, exist_ok=True)
        os.symlink(work / part, copy / part)
    script = subprocess.run([sys.executable, 'reproduce.py', '--work_dir', str(copy), '--quick', '--voc_test_tar',
                             archives[1], '--dry_run', '--stages', 'labels', 'records', 'train', 'evaluate', 'stack',
                             'crf', 'package', 'report'], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    (tmp_path / 'run.sh').write_text(script)
    ran = subprocess.run(['bash', str(tmp_path / 'run.sh')], capture_output=True, text=True,
                         env={'PATH': '/usr/bin:/bin', 'HOME': str(tmp_path)})
    assert ran.returncode == 0, ran.stderr[-3000:]
    for part in ('data/SegmentationClassAug', 'lists', 'crf', *(f'results/{name}' for name in (
            'deeplabv3', 'deeplabv3_msflip', 'stack_hard', 'stack_soft', 'stack_hard_crf', 'stack_soft_crf'))):
        assert same_tree(work / part, copy / part), part
    for name in ('deeplabv3.json', 'val.json', 'val_check.json'):
        assert (work / 'scores' / name).read_bytes() == (copy / 'scores' / name).read_bytes()
    for name in SUBMISSIONS:
        assert tar_contents(work / 'submission' / f'{name}_comp6.tar.gz') == tar_contents(
            copy / 'submission' / f'{name}_comp6.tar.gz')
    assert results_rows(copy) == results_rows(work)


def test_a_mirror_without_some_files_or_with_its_own_builds_is_listed_in_one_go(archives, tmp_path):
    """Published MD5s (no --checksums) against the tiny VOC and SBD builds, every other archive missing: one
    error lists each file once, the two builds are kept as .part, and a run given their MD5s transfers nothing."""
    served, test_tar, checksums = archives
    mirror = tmp_path / 'mirror'
    mirror.mkdir()
    for name in ('VOCtrainval_11-May-2012.tar', 'benchmark.tgz'):
        os.symlink(served / name, mirror / name)
    work = tmp_path / 'work'
    with serve(mirror) as (url, log):
        argv = [sys.executable, 'reproduce.py', '--work_dir', str(work), '--quick', '--mirror', url, '--voc_test_tar',
                test_tar, '--stages', 'download']
        first = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True)
        assert first.returncode == 2, first.stdout + first.stderr
        lines = first.stderr.splitlines()
        assert lines[0] == 'error: files to fetch by hand or accept (then run again):' and len(lines) == 6
        for name in ('VOCtrainval_11-May-2012.tar', 'benchmark.tgz'):
            line = next(line for line in lines if f'/{name} -> ' in line)
            assert 'reads to its end' in line and f'kept as {work}/downloads/{name}.part' in line
            assert f'give its MD5 with --checksums (a line "<md5>  {name}")' in line and line.count(url) == 1
        for name in ('resnet_v2_50_2017_04_14.tar.gz', 'deeplabv3_pascal_train_aug_2018_01_04.tar.gz',
                     'deeplabv3_pascal_trainval_2018_01_04.tar.gz'):
            line = next(line for line in lines if f'/{name} -> ' in line)
            assert line.strip() == f'{url}/{name} -> {work}/downloads/{name} (HTTP 404 Not Found)'
        assert sorted(path for path, _ in log).count('/benchmark.tgz') == 1  # fetched once, not twice
        del log[:]
        subprocess.run([*argv, '--checksums', checksums], cwd=ROOT, capture_output=True, text=True)
        for name in ('VOCtrainval_11-May-2012.tar', 'benchmark.tgz'):
            size = (served / name).stat().st_size
            assert (f'/{name}', f'bytes={size}-') in log and md5(work / 'downloads' / name) == md5(served / name)


def test_without_network_the_files_to_fetch_by_hand_are_listed(tmp_path):
    result = subprocess.run([sys.executable, 'reproduce.py', '--work_dir', str(tmp_path), '--mirror',
                             closed_port_url(), '--stages', 'download'], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert lines[0] == 'error: files to fetch by hand or accept (then run again):'
    for name in ('VOCtrainval_11-May-2012.tar', 'benchmark.tgz', 'resnet_v2_101_2017_04_14.tar.gz',
                 'deeplabv3_pascal_train_aug_2018_01_04.tar.gz', 'deeplabv3_pascal_trainval_2018_01_04.tar.gz'):
        line = next(line for line in lines[1:] if f'/{name} -> {tmp_path}/downloads/{name} (cannot be reached' in line)
        assert line.count('http://') == 1, line
    assert any(line.strip().startswith('VOC2012test.tar needs a login') for line in lines[1:])
    assert not (tmp_path / '.reproduce' / 'download.json').exists()


def test_num_gpus_reaches_train_py_only_when_given(tmp_path):
    def train_line(*extra):
        script = subprocess.run([sys.executable, 'reproduce.py', '--work_dir', str(tmp_path), '--dry_run',
                                 '--stages', 'train', *extra], cwd=ROOT, capture_output=True, text=True,
                                check=True).stdout
        return next(line for line in script.splitlines() if line.startswith('"$PYTHON" train.py'))
    assert '--num_gpus' not in train_line()
    assert train_line('--num_gpus', '4').endswith('--num_gpus 4')


def test_a_ready_made_segmentation_class_aug_replaces_sbd(tmp_path):
    script = subprocess.run([sys.executable, 'reproduce.py', '--work_dir', str(tmp_path), '--dry_run',
                             '--segmentation_class_aug', str(tmp_path / 'SegmentationClassAug'),
                             '--stages', 'download', 'labels', 'records'], cwd=ROOT, capture_output=True, text=True,
                            check=True).stdout
    assert 'benchmark.tgz' not in script
    assert f'--segmentation_class_aug {tmp_path}/SegmentationClassAug --list_dir' in script
    assert f'--ground_truth_dir {tmp_path}/SegmentationClassAug --train_data_list' in script


def test_an_md5_for_the_hand_fetched_test_tar_is_checked(tmp_path):
    def extract_lines(*extra):
        script = subprocess.run([sys.executable, 'reproduce.py', '--work_dir', str(tmp_path), '--dry_run',
                                 '--stages', 'extract', *extra], cwd=ROOT, capture_output=True, text=True,
                                check=True).stdout
        return [line for line in script.splitlines() if line.startswith('"$PYTHON" extract.py')]
    assert not any('--md5' in line for line in extract_lines())
    (tmp_path / 'MD5SUMS').write_text(f'{"a" * 32}  VOC2012test.tar\n')
    test_line = next(line for line in extract_lines('--checksums', str(tmp_path / 'MD5SUMS'))
                     if 'VOC2012test.tar' in line)
    assert test_line.endswith(f'--output_dir {tmp_path}/data/voc_test --md5 {"a" * 32}')
