"""reproduce.py end to end with --quick, on tiny archives in the official layouts served from 127.0.0.1: the run
writes RESULTS.md, a second run does nothing, a run killed during training resumes, a corrupted download is
fetched again, and the --dry_run script gives the same results as the pipeline."""
import hashlib
import os
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
from utils.reproduce_plan import STAGE_NAMES, SUBMISSIONS
from utils.sources import ROWS
from voc_archives import make_model_archives, make_voc_and_sbd, tar_folder

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
        resumed = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    yield {'work': work, 'served': served, 'killed': killed, 'resumed': resumed.stdout + resumed.stderr, 'argv': argv}
    for big in ('downloads', 'pretrained', 'zoo', 'models', 'records'):  # about 2 GB: not kept by pytest's tmp dirs
        shutil.rmtree(work / big)


def test_a_corrupted_download_is_detected_and_fetched_again(pipeline):
    assert 'benchmark.tgz: MD5 ' in pipeline['killed'] and 'fetching it again' in pipeline['killed']
    assert md5(pipeline['work'] / 'downloads' / 'benchmark.tgz') == md5(pipeline['served'] / 'benchmark.tgz')


def test_the_quick_pipeline_writes_results_md_and_the_server_tarballs(pipeline):
    work = pipeline['work']
    results = (work / 'RESULTS.md').read_text()
    for name in ROWS:
        row = next(line for line in results.splitlines() if line.startswith(f'| {name} |'))
        assert row.rstrip(' |').split('|')[-1].strip().replace('.', '').isdigit(), row  # a val_check mIoU
    assert '| aeroplane |' in results and (work / 'iou_val_check.png').is_file()
    for name in SUBMISSIONS:
        assert f'submission/{name}_comp6.tar.gz`: ' in results
        with tarfile.open(work / 'submission' / f'{name}_comp6.tar.gz') as tar:
            assert sorted(tar.getnames()) == [f'results/VOC2012/Segmentation/comp6_test_cls/{i}.png' for i in TEST]
    assert (work / 'lists' / 'train_aug.txt').read_text().split() == TRAIN_AUG


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
    """Whether two folders hold the same file names with the same bytes (recursively)."""
    names = sorted(os.listdir(left))
    if names != sorted(os.listdir(right)):
        return False
    return all(same_tree(os.path.join(left, n), os.path.join(right, n)) if os.path.isdir(os.path.join(left, n))
               else open(os.path.join(left, n), 'rb').read() == open(os.path.join(right, n), 'rb').read()
               for n in names)


def test_the_dry_run_script_gives_the_same_results_as_the_pipeline(pipeline, archives, tmp_path):
    """The stages after the models (labels, stack, crf, package, report) as a bash script, in a work folder
    whose downloads and model results are links into the pipeline's."""
    work, copy = pipeline['work'], tmp_path / 'work'
    for part in ('data/voc_trainval', 'data/sbd', 'data/voc_test', *(f'results/{name}' for name in (
            'deeplabv3', 'deeplabv3_msflip', 'zoo_train_aug', 'zoo_train_aug_ckpt', 'zoo_trainval', 'zoo_trainval_ckpt'))):
        os.makedirs((copy / part).parent, exist_ok=True)
        os.symlink(work / part, copy / part)
    script = subprocess.run([sys.executable, 'reproduce.py', '--work_dir', str(copy), '--quick', '--voc_test_tar',
                             archives[1], '--dry_run', '--stages', 'labels', 'stack', 'crf', 'package', 'report'],
                            cwd=ROOT, capture_output=True, text=True, check=True).stdout
    (tmp_path / 'run.sh').write_text(script)
    env = dict(os.environ, PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ['PATH'])
    ran = subprocess.run(['bash', str(tmp_path / 'run.sh')], capture_output=True, text=True, env=env)
    assert ran.returncode == 0, ran.stderr[-3000:]
    for part in ('data/SegmentationClassAug', 'lists', 'crf', *(f'results/{name}' for name in (
            'stack_hard', 'stack_soft', 'stack_hard_crf', 'stack_soft_crf'))):
        assert same_tree(work / part, copy / part), part
    for name in ('val.json', 'val_check.json'):
        assert (work / 'scores' / name).read_bytes() == (copy / 'scores' / name).read_bytes()
    for name in SUBMISSIONS:
        assert tar_contents(work / 'submission' / f'{name}_comp6.tar.gz') == tar_contents(
            copy / 'submission' / f'{name}_comp6.tar.gz')
    section = lambda path: path.read_text().split('## Stages')[0].split('## Every row')[1]  # noqa: E731
    assert section(copy / 'RESULTS.md') == section(work / 'RESULTS.md')


def test_without_network_the_files_to_fetch_by_hand_are_listed(tmp_path):
    result = subprocess.run([sys.executable, 'reproduce.py', '--work_dir', str(tmp_path), '--mirror',
                             closed_port_url(), '--stages', 'download'], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert lines[0] == 'error: files to fetch by hand (then run again):'
    for name in ('VOCtrainval_11-May-2012.tar', 'benchmark.tgz', 'resnet_v2_101_2017_04_14.tar.gz',
                 'deeplabv3_pascal_train_aug_2018_01_04.tar.gz', 'deeplabv3_pascal_trainval_2018_01_04.tar.gz'):
        assert any(f'/{name} -> {tmp_path}/downloads/{name}' in line for line in lines[1:]), name
    assert any(line.strip().startswith('VOC2012test.tar needs a login') for line in lines[1:])
    assert not (tmp_path / '.reproduce').exists()


def test_num_gpus_reaches_train_py_only_when_given(tmp_path):
    def train_line(*extra):
        script = subprocess.run([sys.executable, 'reproduce.py', '--work_dir', str(tmp_path), '--dry_run',
                                 '--stages', 'train', *extra], cwd=ROOT, capture_output=True, text=True,
                                check=True).stdout
        return next(line for line in script.splitlines() if line.startswith('python train.py'))
    assert '--num_gpus' not in train_line()
    assert train_line('--num_gpus', '4').endswith('--num_gpus 4')


def test_a_ready_made_segmentation_class_aug_replaces_sbd(tmp_path):
    script = subprocess.run([sys.executable, 'reproduce.py', '--work_dir', str(tmp_path), '--dry_run',
                             '--segmentation_class_aug', str(tmp_path / 'SegmentationClassAug'),
                             '--stages', 'download', 'labels', 'records'], cwd=ROOT, capture_output=True, text=True,
                            check=True).stdout
    assert 'benchmark.tgz' not in script
    assert f'--segmentation_class_aug {tmp_path}/SegmentationClassAug --list_dir' in script
    assert f'--label_data_dir {tmp_path}/SegmentationClassAug --train_data_list' in script
