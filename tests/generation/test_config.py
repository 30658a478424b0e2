"""GenerationConfig: the one home of generate's options; keyword options update a config."""
import pytest

from adaptgraph.errors import TaskError
from adaptgraph.generation import GenerationConfig
from adaptgraph.generation.config import generation_config


def test_options_update_the_config_given_or_the_defaults():
    assert generation_config(None, {}) == GenerationConfig()
    base = GenerationConfig(max_new_tokens=7, temperature=0.5, seed=3)
    both = generation_config(base, {"top_p": 0.9, "seed": 4})
    assert (both.max_new_tokens, both.temperature, both.top_p, both.seed) == (7, 0.5, 0.9, 4)
    assert base.seed == 3  # frozen: the caller's config is never changed


@pytest.mark.parametrize("options, message", [
    ({"max_new_tokens": True}, "max_new_tokens must be a positive integer, not True"),
    ({"temperature": float("nan")}, "temperature must be a number >= 0, not nan"),
    ({"top_p": 0.5}, "top_p=0.5 needs sampling"),
    ({"max_tokens": 5}, "invalid generation option: max_tokens: Extra inputs are not permitted"),
    ({"cache": "no"}, "invalid generation option: cache: Input should be a valid boolean"),
    ({"eos_token_id": "end"}, "invalid generation option: eos_token_id"),
])
def test_a_bad_option_is_a_task_error_naming_it(options, message):
    with pytest.raises(TaskError, match=message):
        generation_config(None, options)


def test_config_must_be_a_generation_config():
    with pytest.raises(TaskError, match="config must be a GenerationConfig"):
        generation_config({"max_new_tokens": 3}, {})
