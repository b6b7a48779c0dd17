"""Run a frozen inference graph with the DeepLab model-zoo interface: ImageTensor:0 in, SemanticPredictions:0 out.

Works for the 2018 zoo graphs (int64 output, fixed 513x513 padding inside) and for export_model.py's graphs
(int32 output, any size, recognised by their ModelParams constant). Zoo graphs cannot take a side above 513:
such images are shrunk first, as the official demo does, and their predictions are brought back to the image
size with nearest-neighbour resizing. Our own graphs run every image at full size.
"""
import sys

import numpy as np
import tensorflow as tf
from google.protobuf.message import DecodeError
from PIL import Image
from tqdm import tqdm

from utils.common.errors import UserError
from utils.runtime.image_feed import read_images

tf1 = tf.compat.v1

# The model zoo's interface, which export.py writes too: uint8 image in, labels (and our probabilities) out.
INPUT_NAME = 'ImageTensor'
PREDICTIONS_NAME = 'SemanticPredictions'
PROBABILITIES_NAME = 'SemanticProbabilities'
MODEL_PARAMS_NAME = 'ModelParams'  # a JSON string constant in export.py's graphs only: it tells them from the zoo's
INPUT_TENSOR = INPUT_NAME + ':0'
OUTPUT_TENSOR = PREDICTIONS_NAME + ':0'
ZOO_MAX_SIDE = 513


def load_graph(graph_path):
    """Import a frozen GraphDef into a new graph; UserError when it is missing, unreadable or not DeepLab's."""
    try:
        with tf.io.gfile.GFile(graph_path, 'rb') as handle:
            serialized = handle.read()
    except (tf.errors.NotFoundError, IsADirectoryError, tf.errors.FailedPreconditionError):
        raise UserError(f'{graph_path}: frozen graph not found') from None
    graph_def = tf1.GraphDef()
    graph = tf.Graph()
    try:
        graph_def.ParseFromString(serialized)
        with graph.as_default():
            tf1.import_graph_def(graph_def, name='')
    except (DecodeError, ValueError, tf.errors.OpError) as err:
        raise UserError(f'{graph_path}: not a readable frozen graph ({err.__class__.__name__})') from None
    names = {op.name for op in graph.get_operations()}
    missing = [name for name in (INPUT_TENSOR, OUTPUT_TENSOR) if name.split(':')[0] not in names]
    if missing:
        raise UserError(f'{graph_path}: graph has no {" or ".join(missing)} (not a DeepLab inference graph)')
    return graph


def fitted_size(height, width, max_side):
    """(height, width) shrunk so that the longer side is `max_side` (unchanged when it already fits)."""
    longest = max(height, width)
    if max_side is None or longest <= max_side:
        return height, width
    ratio = max_side / longest
    return max(1, int(ratio * height)), max(1, int(ratio * width))


def resize_image(image, size):
    """Bilinear resize of an RGB uint8 image to (height, width)."""
    return np.asarray(Image.fromarray(image).resize((size[1], size[0]), Image.BILINEAR))


def resize_labels(labels, size):
    """Nearest-neighbour resize of a label map to (height, width), so no new class values appear."""
    return np.asarray(Image.fromarray(labels).resize((size[1], size[0]), Image.NEAREST))


def max_input_side(graph):
    """The longest image side a frozen graph takes: None (any) for export_model.py's, 513 for the zoo's."""
    names = {op.name for op in graph.get_operations()}
    return None if MODEL_PARAMS_NAME in names else ZOO_MAX_SIDE


class FrozenPredictor:
    """A session over a frozen graph: RGB uint8 image in, uint8 label map of the image's size out."""

    def __init__(self, graph_path):
        self.graph_path = graph_path
        self.graph = load_graph(graph_path)
        self.max_side = max_input_side(self.graph)
        self.images = self.graph.get_tensor_by_name(INPUT_TENSOR)
        self.predictions = self.graph.get_tensor_by_name(OUTPUT_TENSOR)
        self.session = tf1.Session(graph=self.graph)
        self.resize_reported = False

    def __call__(self, image):
        """Label map (uint8 [H, W]) for one RGB image; int32 and int64 graph outputs both accepted."""
        size = image.shape[:2]
        fitted = fitted_size(*size, self.max_side)
        if fitted != size:
            self._report_resize()
            image = resize_image(image, fitted)
        labels = self.session.run(self.predictions, {self.images: image[np.newaxis]})[0].astype(np.uint8)
        return resize_labels(labels, size) if fitted != size else labels

    def _report_resize(self):
        """Say once per graph that large images are shrunk, since the zoo graphs cannot take them."""
        if not self.resize_reported:
            tqdm.write(f'{self.graph_path}: images with a side above {self.max_side} are resized to fit (bilinear) '
                       'and their predictions resized back (nearest neighbour)', file=sys.stderr)
            self.resize_reported = True

    def close(self):
        self.session.close()


def iter_frozen_predictions(graph_path, image_dir, ids):
    """Yield (image_id, image RGB uint8 [H, W, 3], label map uint8 [H, W]) for every id in `image_dir`."""
    predictor = FrozenPredictor(graph_path)
    try:
        for image_id, image in read_images(image_dir, ids):
            yield image_id, image, predictor(image)
    finally:
        predictor.close()
