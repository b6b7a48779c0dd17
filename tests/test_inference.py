"""inference.py and checkpoint-mode evaluate.py: outputs, resume (refused when the settings changed), saved model
flags, one-line errors, every missing input named before the model is built."""
import json
import os
import shutil
import sys
import types

import numpy as np
import pytest
from conftest import snapshot, write_random_checkpoint, write_voc_with_model
from PIL import Image

import evaluate
import inference
from utils.common.errors import run_cli
from utils.common.files import SETTINGS_RECORD
from utils.data.voc import save_label
from utils.postprocess.probabilities import read_probabilities
from utils.runtime.model_config import MODEL_DEFAULTS, resolve_model_params, save_model_params

SIZES = {'2007_000032': (37, 50), '2007_000039': (45, 29)}
PARAMS = dict(MODEL_DEFAULTS, model_variant='resnet_v2_50', atrous_rates=[6, 12, 18], num_classes=5)


@pytest.fixture(scope='module')
def voc(tmp_path_factory):
    """Two JPEG images with ground truth, a list file, and a random ResNet-v2-50 model folder with its params."""
    return write_voc_with_model(tmp_path_factory.mktemp('voc'), SIZES, PARAMS)


def infer(voc, out, *extra):
    return run_cli(inference.main, ['--data_dir', str(voc / 'JPEGImages'), '--infer_data_list', str(voc / 'val.txt'),
                                    '--model_dir', str(voc / 'model'), '--output_dir', str(out), *extra])


def test_inference_writes_palette_pngs_of_each_image_size_probabilities_and_panels(voc, tmp_path):
    out = tmp_path / 'out'
    assert infer(voc, out, '--save_probabilities', '--panel_dir', str(tmp_path / 'panels'),
                 '--label_data_dir', str(voc / 'SegmentationClass')) == 0
    for image_id, (height, width) in SIZES.items():
        result = Image.open(out / f'{image_id}.png')
        assert result.mode == 'P' and result.size == (width, height)
        assert np.asarray(result).max() < 5
        probabilities = np.load(out / 'probabilities' / f'{image_id}.npz')['probabilities']
        assert probabilities.shape == (height, width, 5) and probabilities.dtype == np.uint8
        read_probabilities(str(out / 'probabilities' / f'{image_id}.npz'), 5)  # passes the readers' check
        # the label is the largest stored step (several at pixels whose top classes lie within 1/255)
        label_step = np.take_along_axis(probabilities, np.asarray(result)[..., None].astype(int), axis=2)[..., 0]
        np.testing.assert_array_equal(label_step, probabilities.max(axis=2))
        assert Image.open(tmp_path / 'panels' / f'{image_id}.png').size[0] > 2 * width


@pytest.fixture(scope='module')
def inferred(voc, tmp_path_factory):
    """A result folder made by inference.py from a model folder of its own (the voc model's checkpoint files linked,
    its description copied, a `checkpoint` file naming model.ckpt-0), which a test may change and restore."""
    root = tmp_path_factory.mktemp('inferred')
    model = root / 'model'
    model.mkdir()
    for name in os.listdir(voc / 'model'):
        if name.startswith('model.ckpt-0.'):
            os.symlink(voc / 'model' / name, model / name)
    shutil.copy(voc / 'model' / 'deeplab_params.json', model)
    (model / 'checkpoint').write_text('model_checkpoint_path: "model.ckpt-0"\n')
    argv = ['--image_data_dir', str(voc / 'JPEGImages'), '--image_list', str(voc / 'val.txt'), '--model_dir',
            str(model), '--output_dir', str(root / 'out')]
    assert run_cli(inference.main, argv) == 0
    return types.SimpleNamespace(root=root, model=model, out=root / 'out', argv=argv)


def changed_file(path, text):
    """A setup writing `text` to `path`; it returns the function that puts the file back."""
    def setup(inferred):
        target = inferred.model / path
        before = target.read_bytes()
        target.write_text(text)
        return lambda: target.write_bytes(before)
    return setup


def other_images(inferred):
    """The same images in another folder."""
    if not (inferred.root / 'images2').exists():
        shutil.copytree(inferred.argv[1], inferred.root / 'images2')
    return lambda: None


def placed(inferred, argv):
    """`argv` with '{root}' standing for the inferred folder's parent."""
    return [item.replace('{root}', str(inferred.root)) for item in argv]


# (argv added to the inferred folder's, the settings a rerun is refused for, a setup changing the model folder)
CHANGES = [
    (['--add_flipped_images'], ['add_flipped_images'], None),
    (['--inference_scales', '0.5', '1.0'], ['inference_scales'], None),
    (['--precision', 'bfloat16'], ['precision'], None),
    (['--eval_crop_size', '65', '65'], ['eval_crop_size'], None),
    (['--save_probabilities'], ['save_probabilities'], None),
    (['--save_probabilities', '--probabilities_dir', '/elsewhere'], ['save_probabilities'], None),
    (['--model_variant', 'resnet_v2_101'], ['model_variant'], None),
    (['--output_stride', '8'], ['output_stride'], None),
    (['--frozen_graph', '/frozen.pb'], ['frozen_graph', 'model_dir', 'checkpoint', 'deeplab_params'], None),
    ([], ['checkpoint'], changed_file('checkpoint', 'model_checkpoint_path: "model.ckpt-7"\n')),
    ([], ['deeplab_params'], changed_file('deeplab_params.json', json.dumps(dict(PARAMS, output_stride=8)))),
    (['--image_data_dir', '{root}/images2'], ['image_data_dir'], other_images),
]


@pytest.mark.parametrize('extra, named, setup', CHANGES, ids=[' '.join(c[0]) or c[1][0] for c in CHANGES])
def test_a_rerun_with_other_settings_is_refused_naming_them_before_tensorflow(inferred, capsys, no_model, extra,
                                                                              named, setup):
    restore = setup(inferred) if setup else lambda: None
    try:
        before = snapshot(inferred.out)
        assert run_cli(inference.main, [*inferred.argv, *placed(inferred, extra)]) == 2
        err = capsys.readouterr().err.splitlines()
        start = f'error: {inferred.out}: holds results made with other settings ('
        end = '); pass --overwrite to redo them all with these, or choose another output folder'
        assert len(err) == 1 and err[0].startswith(start) and err[0].endswith(end), err
        assert [change.split(' ')[0] for change in err[0][len(start):-len(end)].split('; ')] == named
        assert snapshot(inferred.out) == before
    finally:
        restore()


@pytest.mark.parametrize('extra', [['--batch_size', '1'], ['--probabilities_dir', '{root}/probabilities'],
                                   ['--panel_dir', '{root}/panels', '--num_panels', '1']])
def test_flags_that_do_not_change_the_results_resume(inferred, capsys, no_model, extra):
    """Nor do the panels, pictures of the images this run segments (none here)."""
    before = snapshot(inferred.out)
    assert run_cli(inference.main, [*inferred.argv, *placed(inferred, extra)]) == 0
    assert capsys.readouterr().err == '2 of 2 results exist already; segmenting 0\n'
    assert snapshot(inferred.out) == before and not (inferred.root / 'panels').exists()


def test_inference_resumes_and_overwrite_redoes_with_the_new_settings(inferred, tmp_path, capsys):
    """In a copy of the inferred folder: its record names no output folder, so the copy resumes as its own."""
    out = tmp_path / 'out'
    shutil.copytree(inferred.out, out)
    argv = [*inferred.argv[:-1], str(out)]
    first = out / '2007_000032.png'
    os.utime(first, (0, 0))
    assert run_cli(inference.main, argv) == 0
    assert os.stat(first).st_mtime == 0
    assert capsys.readouterr().err == '2 of 2 results exist already; segmenting 0\n'
    assert run_cli(inference.main, [*argv, '--add_flipped_images', '--overwrite']) == 0
    assert os.stat(first).st_mtime > 0
    assert '0 of 2 results exist already; segmenting 2' in capsys.readouterr().err
    redone = snapshot(out)
    assert run_cli(inference.main, [*argv, '--add_flipped_images']) == 0
    assert capsys.readouterr().err == '2 of 2 results exist already; segmenting 0\n'
    assert run_cli(inference.main, argv) == 2
    assert 'other settings (add_flipped_images true -> false)' in capsys.readouterr().err
    assert snapshot(out) == redone


@pytest.mark.parametrize('flags, named, hint', [
    (['--model_variant', 'resnet_v2_101'], 'resnet_v2_101/conv1/weights', True),
    (['--decoder_output_stride', '4'], 'decoder/feature_projection0/weights', False),
])
def test_model_flags_that_do_not_fit_the_checkpoint_are_a_one_line_error(voc, tmp_path, capsys, flags, named, hint):
    assert infer(voc, tmp_path / 'out', *flags) == 2
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert line.startswith('error: ') and 'does not match the model' in line and named in line
    assert ('do the model flags' in line) == hint
    assert not (tmp_path / 'out').exists() or not os.listdir(tmp_path / 'out')


@pytest.mark.parametrize('case, message', [
    ('missing_image', '2007_009999.jpg: image not found'),
    ('empty_list', 'list file is empty'),
    ('no_checkpoint', 'no checkpoint in this folder'),
])
def test_bad_input_is_a_one_line_error(voc, tmp_path, capsys, case, message):
    argv = ['--data_dir', str(voc / 'JPEGImages'), '--output_dir', str(tmp_path / 'out'),
            '--model_dir', str(voc / 'model'), '--infer_data_list', str(voc / 'val.txt')]
    if case == 'missing_image':
        (tmp_path / 'list.txt').write_text('2007_009999\n')
        argv[-1] = str(tmp_path / 'list.txt')
    elif case == 'empty_list':
        (tmp_path / 'list.txt').write_text('\n')
        argv[-1] = str(tmp_path / 'list.txt')
    else:
        (tmp_path / 'empty_model').mkdir()
        argv[5] = str(tmp_path / 'empty_model')
    assert run_cli(inference.main, argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith('error: ') and message in err[-1]


@pytest.fixture
def no_model(monkeypatch):
    """Make reaching the model (importing deeplab_model or utils.runtime.predict, hence TensorFlow) fail: these
    checks come first."""
    import utils.runtime
    monkeypatch.delattr(utils.runtime, 'predict', raising=False)
    monkeypatch.setitem(sys.modules, 'utils.runtime.predict', None)
    monkeypatch.setitem(sys.modules, 'deeplab_model', None)


@pytest.fixture
def images(tmp_path):
    """A folder of two small JPEG images, without a model."""
    folder = tmp_path / 'JPEGImages'
    folder.mkdir()
    for image_id, size in SIZES.items():
        Image.fromarray(np.zeros(size + (3,), np.uint8)).save(folder / f'{image_id}.jpg')
    return folder


def infer_without_model(image_dir, out, *extra):
    return run_cli(inference.main, ['--image_data_dir', str(image_dir), '--output_dir', str(out),
                                    '--model_dir', str(image_dir / 'no_model'), *extra])


def test_every_missing_listed_image_is_named_on_its_own_line_and_nothing_written(images, tmp_path, capsys, no_model):
    missing = ['2008_000001', '2008_000002', '2008_000003']
    (tmp_path / 'list.txt').write_text('\n'.join([*SIZES, *missing]) + '\n')
    assert infer_without_model(images, tmp_path / 'out', '--image_list', str(tmp_path / 'list.txt')) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines[0] == f'error: {tmp_path / "list.txt"}: 3 of 5 listed images not found, nothing segmented:'
    assert lines[1:] == [f'  {images / i}.jpg: image not found' for i in missing]
    assert not (tmp_path / 'out').exists()


def test_an_empty_image_folder_is_an_error(tmp_path, capsys, no_model):
    (tmp_path / 'empty').mkdir()
    assert infer_without_model(tmp_path / 'empty', tmp_path / 'out') == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f'error: {tmp_path / "empty"}: no images') and '\n' not in err
    assert not (tmp_path / 'out').exists()


def test_missing_panel_labels_are_named_before_anything_is_written(images, tmp_path, capsys, no_model):
    labels = tmp_path / 'labels'
    labels.mkdir()
    assert infer_without_model(images, tmp_path / 'out', '--panel_dir', str(tmp_path / 'panels'),
                               '--label_data_dir', str(labels)) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines[0].startswith('error: 2 of 2 panel labels not found')
    assert lines[1:] == [f'  {labels / i}.png: label not found' for i in sorted(SIZES)]
    assert not (tmp_path / 'out').exists() and not (tmp_path / 'panels').exists()


def test_nothing_to_do_when_every_result_exists_is_not_an_error(images, tmp_path, capsys, no_model):
    """Results without a settings record, as an older version left them: resumed, with a note saying so."""
    out = tmp_path / 'out'
    out.mkdir()
    for image_id, size in SIZES.items():
        save_label(str(out / f'{image_id}.png'), np.zeros(size, np.uint8))
    before = snapshot(out)
    assert infer_without_model(images, out) == 0
    assert capsys.readouterr().err.splitlines() == [
        f'note: {out}: holds results without a record of their settings (made by an older version): kept and taken '
        'as made with these settings', '2 of 2 results exist already; segmenting 0']
    assert snapshot(out) == before


def test_checkpoint_evaluation_scores_the_same_predictions_as_the_result_folder(voc, tmp_path, capsys):
    out = tmp_path / 'out'
    assert infer(voc, out) == 0
    common = ['--label_data_dir', str(voc / 'SegmentationClass'), '--evaluation_data_list', str(voc / 'val.txt')]
    assert run_cli(evaluate.main, [*common, '--image_data_dir', str(voc / 'JPEGImages'),
                                   '--model_dir', str(voc / 'model'), '--output_json', str(tmp_path / 'c.json')]) == 0
    assert run_cli(evaluate.main, [*common, '--prediction_dir', str(out), '--num_classes', '5',
                                   '--output_json', str(tmp_path / 'f.json')]) == 0
    assert 'mIoU' in capsys.readouterr().out
    checkpoint, folder = (json.loads((tmp_path / n).read_text()) for n in ('c.json', 'f.json'))
    assert checkpoint.pop('precision') == 'float32'  # how the checkpoint's predictions were computed
    assert checkpoint == folder
    assert len(checkpoint['per_class_iou']) == 5


def test_a_model_zoo_style_checkpoint_prefix_with_optimizer_slots_gives_probabilities(tmp_path):
    """A zoo model.ckpt holds Momentum slots and no deeplab_params.json: flags describe the model, extras are
    ignored, and probabilities can be saved for the CRF."""
    import tensorflow as tf

    import deeplab_model
    tf1 = tf.compat.v1
    with tf.Graph().as_default():
        logits = deeplab_model.network_logits(tf1.placeholder(tf.float32, [1, 33, 33, 3]), PARAMS, training=False)
        tf1.train.get_or_create_global_step()
        tf1.train.MomentumOptimizer(0.1, 0.9).minimize(tf.reduce_mean(logits))
        assert any(v.op.name.endswith('/Momentum') for v in tf1.global_variables())
        with tf1.Session() as sess:
            sess.run(tf1.global_variables_initializer())
            tf1.train.Saver().save(sess, str(tmp_path / 'zoo' / 'model.ckpt'))
    image_dir = tmp_path / 'images'
    image_dir.mkdir()
    Image.fromarray(np.zeros((20, 30, 3), np.uint8)).save(image_dir / 'a.jpg')
    argv = ['--data_dir', str(image_dir), '--output_dir', str(tmp_path / 'out'), '--save_probabilities',
            '--model_dir', str(tmp_path / 'zoo' / 'model.ckpt'), '--model_variant', 'resnet_v2_50',
            '--num_classes', '5']
    assert run_cli(inference.main, argv) == 0
    assert np.load(tmp_path / 'out' / 'probabilities' / 'a.npz')['probabilities'].shape == (20, 30, 5)


def test_estimator_predict_mode_gives_classes_and_probabilities(voc):
    import tensorflow as tf

    import deeplab_model
    estimator = tf.estimator.Estimator(deeplab_model.model_fn, str(voc / 'model'), params=PARAMS)
    image = np.random.RandomState(3).uniform(0, 255, (1, 21, 26, 3)).astype(np.float32)
    prediction = next(estimator.predict(lambda: tf.data.Dataset.from_tensors({'image': image})))
    assert prediction['classes'].shape == (21, 26) and prediction['probabilities'].shape == (21, 26, 5)
    np.testing.assert_array_equal(prediction['classes'], prediction['probabilities'].argmax(axis=2))


@pytest.fixture(scope='module')
def v3plus_prefix(tmp_path_factory):
    """A v3+ (decoder) ResNet-v2-50 checkpoint prefix without a model description, as a zoo tarball gives."""
    folder = tmp_path_factory.mktemp('v3plus')
    write_random_checkpoint(str(folder), dict(PARAMS, decoder_output_stride=4))
    return str(folder / 'model.ckpt-0')


def test_a_v3plus_checkpoint_without_a_description_runs_with_its_decoder_read_from_its_variables(
        voc, v3plus_prefix, tmp_path):
    argv = ['--data_dir', str(voc / 'JPEGImages'), '--infer_data_list', str(voc / 'val.txt'), '--model_dir',
            v3plus_prefix, '--output_dir', str(tmp_path / 'out'), '--model_variant', 'resnet_v2_50']
    assert run_cli(inference.main, argv) == 0
    assert sorted(os.listdir(tmp_path / 'out')) == [SETTINGS_RECORD, *(f'{image_id}.png' for image_id in SIZES)]
    assert not os.path.exists(os.path.join(os.path.dirname(v3plus_prefix), 'deeplab_params.json'))  # input kept


@pytest.fixture
def v3plus_described_without_decoder(v3plus_prefix, tmp_path):
    """A copy of the v3+ checkpoint whose deeplab_params.json says it has no decoder."""
    folder = tmp_path / 'described'
    folder.mkdir()
    for name in os.listdir(os.path.dirname(v3plus_prefix)):
        if name.startswith('model.ckpt-0.'):
            shutil.copy(os.path.join(os.path.dirname(v3plus_prefix), name), folder / name)
    save_model_params(str(folder), resolve_model_params(dict(PARAMS)))
    return str(folder / 'model.ckpt-0')


def test_a_description_without_the_checkpoints_decoder_is_refused_naming_the_flag(
        voc, v3plus_described_without_decoder, tmp_path, capsys):
    prefix = v3plus_described_without_decoder
    argv = ['--data_dir', str(voc / 'JPEGImages'), '--infer_data_list', str(voc / 'val.txt'), '--model_dir',
            prefix, '--output_dir', str(tmp_path / 'out')]
    assert run_cli(inference.main, argv) == 2
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert line.startswith(f'error: {prefix}: holds 25 model variables the chosen model does not use (decoder/')
    assert line.endswith('it was trained with --decoder_output_stride 4: pass it')
    assert not (tmp_path / 'out').exists() or not os.listdir(tmp_path / 'out')
    assert run_cli(inference.main, argv + ['--decoder_output_stride', '4']) == 0


def test_export_refuses_a_description_without_the_checkpoints_decoder(v3plus_described_without_decoder, tmp_path,
                                                                        capsys):
    import export_model
    pb_path = tmp_path / 'frozen.pb'
    argv = ['--model_dir', v3plus_described_without_decoder, '--export_path', str(pb_path)]
    assert run_cli(export_model.main, argv) == 2
    assert 'it was trained with --decoder_output_stride 4: pass it' in capsys.readouterr().err
    assert not pb_path.exists()
