import math

import pytest

import zoo
from zoo.samplecnn import TABLE_3_3, default_filters, parse_module_sizes

# Tables 3.1 and 3.3: parameters with a 50-tag head, in millions.
THESIS_PARAMS = {
    "samplecnn": 2.46, "samplecnn-2k": 1.80, "samplecnn-4k": 1.93, "samplecnn-8k": 2.06,
    "samplecnn-12k": 2.13, "samplecnn-16k": 2.19, "samplecnn-20k": 2.32,
}


@pytest.mark.parametrize("name", sorted(THESIS_PARAMS))
def test_parameter_count_within_one_percent(name):
    params = zoo.build(name).count_params() / 1e6
    assert abs(params / THESIS_PARAMS[name] - 1) <= 0.01, params


@pytest.mark.parametrize("rate", sorted(TABLE_3_3))
def test_input_length_matches_table_3_3(rate):
    name = "samplecnn" if rate == 22050 else f"samplecnn-{rate // 1000}k"
    model = zoo.build(name)
    assert model.input_shape == (None, TABLE_3_3[rate][1])
    assert zoo.model_arguments(name)["sample_rate"] == rate


def test_table_3_1_layer_shapes():
    backbone = zoo.build("samplecnn").get_layer("backbone")
    assert backbone.get_layer("conv0_relu").output.shape == (None, 19683, 128)
    assert backbone.get_layer("block1_pool").output.shape == (None, 6561, 128)
    assert backbone.get_layer("block3_pool").output.shape == (None, 729, 256)
    assert backbone.get_layer("block9_pool").output.shape == (None, 1, 512)
    assert backbone.get_layer("conv0_conv").strides == (3,)
    assert backbone.output.shape == (None, 512)


def test_any_m_n_configuration():
    model = zoo.build("samplecnn", m=2, n=13, num_tags=10)
    assert model.input_shape == (None, 2 * 2**13)
    assert model.output_shape == (None, 10)
    assert len(default_filters(14)) == 14
    assert parse_module_sizes("5-5-5") == [5, 5, 5]
    assert math.prod(parse_module_sizes(None, 4, 6)) == 4**7
    with pytest.raises(ValueError):
        zoo.build("samplecnn", module_sizes="3")
