import pytest
import torch

from adaptgraph.errors import TaskError
from adaptgraph.tasks import SplitTask, TaskHead, load_head
from adaptgraph.tasks.head import feature_dim_of, masked_mean


def test_masked_mean_ignores_padding():
    tokens = torch.tensor([[[1.0, 2.0], [3.0, 4.0], [100.0, 100.0]]])
    mask = torch.tensor([[1, 1, 0]])
    assert torch.equal(masked_mean(tokens, mask), torch.tensor([[2.0, 3.0]]))
    assert torch.allclose(masked_mean(tokens, None), torch.tensor([[104 / 3, 106 / 3]]))


def test_poolings():
    torch.manual_seed(0)
    head = TaskHead(4, 3)
    tokens = torch.randn(2, 5, 4)
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]])
    expected = torch.stack([tokens[0, :3].mean(0), tokens[1].mean(0)])
    assert torch.allclose(head.pool(tokens, mask), expected)
    assert torch.allclose(head(tokens, mask), head.linear(expected))
    maps = torch.randn(2, 4, 3, 3)
    assert torch.allclose(head.pool(maps), maps.mean(dim=(2, 3)))
    vectors = torch.randn(2, 4)
    assert head.pool(vectors) is vectors
    cls = TaskHead(4, 3, pooling="cls")
    assert torch.equal(cls.pool(tokens, mask), tokens[:, 0])


def test_pooling_errors():
    with pytest.raises(TaskError) as e:
        TaskHead(4, 3, pooling="max")
    assert str(e.value) == "error: unknown pooling 'max'\n    hint: use one of auto, mean, cls"
    with pytest.raises(TaskError) as e:
        TaskHead(4, 3, pooling="cls").pool(torch.zeros(1, 4, 2, 2))
    assert str(e.value) == ("error: pooling 'cls' needs token features (B, T, D), got a feature map (B, C, H, W)\n"
                            "    hint: use pooling 'auto' or 'mean' for convolutional backbones")
    with pytest.raises(TaskError) as e:
        masked_mean(torch.zeros(2, 5, 4), torch.ones(2, 6))
    assert str(e.value) == ("error: the features have (2, 5) (batch, tokens) but the attention mask is (2, 6)\n"
                            "    hint: a text feature model must return one feature vector per input token")
    with pytest.raises(TaskError) as e:
        feature_dim_of(torch.zeros(3))
    assert str(e.value) == ("error: the feature model returned a tensor of shape (3,)\n"
                            "    hint: a feature model must return (B, T, D), (B, D) or (B, C, H, W)")
    assert feature_dim_of(torch.zeros(2, 7, 3, 3)) == 7 and feature_dim_of(torch.zeros(2, 5, 9)) == 9


def test_load_head_checks_the_class_count():
    head = TaskHead(4, 3, pooling="cls")
    task = SplitTask("other", tuple("abcd"), "text", ((), (), ()))
    with pytest.raises(TaskError) as e:
        load_head(head.describe(), head.state_dict(), task)
    assert str(e.value) == ("error: the checkpoint's head has 3 classes but task 'other' has 4\n"
                            "    hint: evaluate the checkpoint on the task it was trained on")
    same = SplitTask("same", tuple("abc"), "text", ((), (), ()))
    again = load_head(head.describe(), head.state_dict(), same)
    assert again.pooling == "cls" and torch.equal(again.linear.weight, head.linear.weight)
