import pytest
import torch
from train_fixtures import IMAGE_BACKBONE, TEXT_BACKBONE, TinyBackbone, TinyTokenizer

from adaptgraph.errors import TaskError
from adaptgraph.tasks import SplitTask, make_loader
from adaptgraph.tasks.data import GlobalBatchSampler, check_fits, fit_images


def test_sampler_shares_global_batches_between_ranks():
    one = list(GlobalBatchSampler(10, 4, shuffle=True, seed=5))
    ranks = [list(GlobalBatchSampler(10, 4, shuffle=True, seed=5, rank=r, world_size=2)) for r in range(2)]
    assert [len(b) for b in one] == [4, 4, 2]
    for k, batch in enumerate(one):
        merged = sorted(i for r in range(2) for i, w in ranks[r][k] if w > 0)
        assert merged == sorted(i for i, _ in batch)
        total = sum(w for r in range(2) for _, w in ranks[r][k])
        assert total == pytest.approx(2.0)  # per-rank sums of w*loss, averaged over 2 ranks = global mean
    assert sorted(i for b in one for i, _ in b) == list(range(10))


def test_sampler_reshuffles_per_epoch_and_pads_an_empty_rank():
    s = GlobalBatchSampler(9, 9, shuffle=True, seed=0)
    first = list(s)
    s.set_epoch(1)
    assert first != list(s)
    alone = list(GlobalBatchSampler(3, 2, shuffle=False, rank=1, world_size=2))
    assert alone == [[(1, 1.0)], [(2, 0.0)]]  # second global batch has one example: rank 1 gets a weightless one


def test_text_batches_are_padded_to_their_longest_text():
    examples = [("a b c d e f", 0), ("a", 1), ("a b", 1), ("a b c d e f g h i j", 0)]
    loader = make_loader(examples, TEXT_BACKBONE, batch_size=2, max_length=8, shuffle=False)
    first, second = list(loader)
    assert first.inputs[0].shape == (2, 7) and second.inputs[0].shape == (2, 8)
    assert torch.equal(first.attention_mask, first.inputs[1])
    assert first.attention_mask.sum(1).tolist() == [7, 2]
    assert first.labels.tolist() == [0, 1] and first.weights.tolist() == [0.5, 0.5]


def test_images_are_resized_and_channels_repeated():
    images = torch.rand(2, 1, 8, 8)
    out = fit_images(images, (3, 12, 12))
    assert out.shape == (2, 3, 12, 12) and torch.equal(out[:, 0], out[:, 2])
    assert fit_images(images, None) is images
    with pytest.raises(TaskError) as e:
        fit_images(torch.rand(2, 2, 8, 8), (3, 8, 8))
    assert str(e.value) == ("error: task images have 2 channels but the backbone takes 3\n"
                            "    hint: use images with 1 channel (repeated) or as many as the backbone takes")


def test_modality_mismatch():
    text_task = SplitTask("wordnet:noun", ("a",), "text", ((), (), ()))
    image_task = SplitTask("digits", ("a",), "image", ((), (), ()))
    with pytest.raises(TaskError) as e:
        check_fits(text_task, IMAGE_BACKBONE)
    assert str(e.value) == ("error: text task 'wordnet:noun' on an image backbone 'tiny:image'\n"
                            "    hint: choose an image task such as digits or a text backbone")
    with pytest.raises(TaskError) as e:
        check_fits(image_task, TEXT_BACKBONE)
    assert str(e.value) == ("error: image task 'digits' on a text backbone 'tiny:text'\n"
                            "    hint: choose a text task (wordnet:, csv:, jsonl:) or an image backbone")
    with pytest.raises(TaskError) as e:
        check_fits(text_task, TinyBackbone("tiny:notok", "text"))
    assert str(e.value) == ("error: text backbone 'tiny:notok' has no tokenizer\n"
                            "    hint: load the backbone with its tokenizer")


def test_tokenizer_without_an_input_the_backbone_takes():
    backbone = TinyBackbone("tiny:tt", "text", TinyTokenizer(), ("input_ids", "token_type_ids"))
    loader = make_loader([("a", 0)], backbone, batch_size=1, max_length=4, shuffle=False)
    with pytest.raises(TaskError) as e:
        next(iter(loader))
    assert str(e.value) == ("error: the tokenizer gives input_ids, attention_mask but the backbone also takes "
                            "token_type_ids\n    hint: use the tokenizer that belongs to the backbone")
