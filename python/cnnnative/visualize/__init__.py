"""Looking inside a network: what its first layer learned (`filter_grid`), what a layer
sees (`feature_maps`, by its named_modules name), which pixels decide a class
(`saliency`, `smoothgrad`, `grad_cam`) and what the network wants to see for a class
(`class_model`). The functions return numpy arrays and need nothing beyond numpy; the
`plot_*` functions draw them with matplotlib (ImportError naming it when missing), and
`write_png` saves an image with no extra package at all.

    heat = cnnnative.visualize.grad_cam(model, images, layer="features.28")
"""
from .attribution import grad_cam, input_gradient, saliency, smoothgrad
from .capture import Captured, capture, find_module
from .class_model import class_model
from .filters import FilterGrid, feature_maps, filter_grid, first_conv, tile
from .image import heat_colors, overlay, read_image, to_rgb, write_png
from .plot import plot_feature_maps, plot_filters, plot_heatmap

__all__ = ["capture", "Captured", "find_module", "input_gradient", "saliency", "smoothgrad", "grad_cam",
           "class_model", "filter_grid", "FilterGrid", "first_conv", "feature_maps", "tile",
           "write_png", "read_image", "to_rgb", "heat_colors", "overlay",
           "plot_filters", "plot_feature_maps", "plot_heatmap"]
