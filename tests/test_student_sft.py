"""`tracegym student` → `tracegym sft` through the real CLI, on a tiny student, plus the prompt renderer."""

from __future__ import annotations

import json

import pytest

from cli_helpers import assert_user_error, run_cli
from factories import ONE_THREAD, RESERVATION_SYSTEM, model_fixture, sft_rows
from tracegym.samples import write_jsonl

TINY = ("--vocab_size", "320", "--hidden_size", "32", "--num_layers", "2", "--num_heads", "2", "--num_kv_heads", "1")


@model_fixture
def workspace(tmp_path_factory):
    root = tmp_path_factory.mktemp("student_sft")
    write_jsonl(root / "train.jsonl", sft_rows())
    built = run_cli(
        "student", "--train_jsonl", root / "train.jsonl", "--out_dir", root / "student", *TINY, env=ONE_THREAD
    )
    assert built.returncode == 0, built.stderr
    assert json.loads(built.stdout)["parameters"] > 0
    return root


@pytest.fixture(scope="module")
def tokenizer(workspace):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(workspace / "student")


def test_student_loads_with_the_auto_classes(workspace, tokenizer):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(workspace / "student")
    assert type(model).__name__ == "Gemma3ForCausalLM"
    assert model.config.tie_word_embeddings and model.config.hidden_size == 32
    assert model.get_input_embeddings().weight.data_ptr() == model.get_output_embeddings().weight.data_ptr()
    end_of_turn = tokenizer.convert_tokens_to_ids("<end_of_turn>")
    assert end_of_turn in model.generation_config.eos_token_id
    assert tokenizer.eos_token == "<end_of_turn>" and tokenizer.pad_token == "<pad>" and tokenizer.bos_token == "<bos>"
    # Digits are single tokens, so any number is made of tokens the student has seen.
    digits = [t for t in tokenizer.tokenize("at 16:30, 408-555-1234") if any(c.isdigit() for c in t)]
    assert digits and all(len(t.lstrip("Ġ")) == 1 for t in digits)
    assert tokenizer.decode(tokenizer("Sino is at 377 Santana Row.")["input_ids"]) == "Sino is at 377 Santana Row."


@pytest.mark.slow
def test_placeholder_tokens_make_each_value_placeholder_one_token(tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out = tmp_path / "student"
    built = run_cli("student", "--out_dir", out, *TINY, "--placeholder_tokens", "3", env=ONE_THREAD)
    assert built.returncode == 0, built.stderr
    tokenizer = AutoTokenizer.from_pretrained(out)
    assert {"[2]", "[3]"} <= set(tokenizer.tokenize("at [2], [3]"))
    assert "[4]" not in tokenizer.tokenize("at [4]")  # only [1] … [N]
    assert (
        tokenizer.decode(tokenizer("Sino [1] is at [2].")["input_ids"], skip_special_tokens=True)
        == "Sino [1] is at [2]."
    )
    assert AutoModelForCausalLM.from_pretrained(out).config.vocab_size == len(tokenizer)
    assert_user_error(
        run_cli("student", "--out_dir", tmp_path / "bad", *TINY, "--placeholder_tokens", "100"),
        "--placeholder_tokens 100",
    )


def test_chat_template_renders_gemma_turns_with_the_system_text_in_the_first_user_turn(tokenizer):
    text = tokenizer.apply_chat_template(
        [
            {"role": "system", "content": "SYS"},
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": "yo"},
            {"role": "user", "content": "bye"},
        ],
        tokenize=False,
        add_generation_prompt=True,
    )
    assert text == (
        "<bos><start_of_turn>user\nSYS\n\nhi<end_of_turn>\n<start_of_turn>model\nyo<end_of_turn>\n"
        "<start_of_turn>user\nbye<end_of_turn>\n<start_of_turn>model\n"
    )


def long_dialogue() -> list[dict]:
    turns = []
    for index in range(6):
        turns += [
            {"role": "user", "content": f"user turn {index} " * 3},
            {"role": "assistant", "content": f"assistant turn {index} " * 3},
        ]
    return [
        {"role": "system", "content": RESERVATION_SYSTEM},
        *turns,
        {"role": "user", "content": "the last user turn"},
    ]


def token_count(tokenizer, text: str) -> int:
    return len(tokenizer(text, add_special_tokens=False)["input_ids"])


def test_render_prompt_drops_the_oldest_pairs_first_and_keeps_system_and_last_user_turn(tokenizer):
    from tracegym.training.prompts import PromptStats, render_prompt

    messages = long_dialogue()
    full = render_prompt(tokenizer, messages, None)
    assert full.endswith("the last user turn<end_of_turn>\n<start_of_turn>model\n")
    limit = token_count(tokenizer, full) - 1
    stats = PromptStats()
    shortened = render_prompt(tokenizer, messages, limit, stats)
    assert token_count(tokenizer, shortened) <= limit
    assert "user turn 0" not in shortened and "assistant turn 0" not in shortened  # one whole pair went
    assert "user turn 1" in shortened and "assistant turn 5" in shortened  # the rest stayed
    assert RESERVATION_SYSTEM.splitlines()[0] in shortened and "the last user turn" in shortened
    assert stats.history_turns_dropped == 2 and stats.system_truncated == 0

    # No history fits: only the system message and the last user turn remain, the system message whole.
    only_ends = render_prompt(tokenizer, [messages[0], messages[-1]], None)
    bare = render_prompt(tokenizer, messages, token_count(tokenizer, only_ends), stats)
    assert bare == only_ends
    assert stats.system_truncated == 0


def test_render_prompt_cuts_the_system_middle_only_as_a_last_resort(tokenizer):
    from tracegym.training.prompts import PromptStats, render_prompt

    messages = long_dialogue()
    stats = PromptStats()
    limit = token_count(tokenizer, render_prompt(tokenizer, [messages[0], messages[-1]], None)) - 20
    text = render_prompt(tokenizer, messages, limit, stats)
    assert stats.system_truncated == 1 and token_count(tokenizer, text) <= limit
    assert text.startswith("<bos><start_of_turn>user\nYou are an assistant")  # head of the system message kept
    assert "cut to fit" in text and "the last user turn" in text and "user turn 0" not in text


def test_a_compact_prompt_keeps_its_acts_whole_and_cuts_the_last_user_turn_instead(tokenizer):
    from tracegym.framing import Framing
    from tracegym.training.prompts import PromptStats, render_prompt, render_sample_prompt

    acts = "Service: Restaurants_1\nSay this in your reply (dialogue acts): OFFER(restaurant_name=Ciccio [1])"
    question = "I need a table for two tonight and a place with outdoor seating would be perfect for us, " * 3
    record = {
        "id": "compact-1",
        "messages": [{"role": "system", "content": acts}, {"role": "user", "content": question + "anything?"}],
        "framing": Framing.named("compact").to_dict(),
    }
    whole = render_sample_prompt(tokenizer, record, None)
    limit = token_count(tokenizer, whole) - 20
    stats = PromptStats()
    text = render_sample_prompt(tokenizer, record, limit, stats)
    assert token_count(tokenizer, text) <= limit
    assert acts in text  # every act, whole
    assert "I need a table" in text and "anything?" in text and " ... " in text  # the turn's ends kept, its middle cut
    assert stats.last_turn_cut == 1 and stats.system_truncated == 0

    # The full framing's system message is the one that gives way, as before.
    stats = PromptStats()
    full = render_sample_prompt(tokenizer, {**record, "framing": Framing.named("acts").to_dict()}, limit, stats)
    assert full == render_prompt(tokenizer, record["messages"], limit)
    assert acts not in full and question + "anything?" in full
    assert stats.last_turn_cut == 0 and stats.system_truncated == 1


def test_render_prompt_folds_the_system_message_when_the_template_refuses_it(tokenizer):
    from tracegym.training.prompts import render_prompt

    strict = tokenizer.__class__.from_pretrained(tokenizer.name_or_path)
    strict.chat_template = (
        "{% for m in messages %}{% if m['role'] == 'system' %}{{ raise_exception('System role not supported') }}"
        "{% endif %}[{{ m['role'] }}]{{ m['content'] }}{% endfor %}[assistant]"
    )
    text = render_prompt(strict, [{"role": "system", "content": "SYS"}, {"role": "user", "content": "hi"}], None)
    assert text == "[user]SYS\n\nhi[assistant]"


SFT_FLAGS = ("--learning_rate", "3e-3", "--per_device_train_batch_size", "8", "--logging_steps", "5", "--seed", "7")


@pytest.fixture(scope="module")
def sft_run(workspace):
    out = workspace / "sft"
    result = run_cli(
        "sft",
        "--model_name",
        workspace / "student",
        "--train_jsonl",
        workspace / "train.jsonl",
        "--output_dir",
        out,
        "--max_steps",
        "25",
        *SFT_FLAGS,
        env=ONE_THREAD,
    )
    assert result.returncode == 0, result.stderr
    return out, json.loads(result.stdout)


def log_of(run_dir) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "sft_log.jsonl").read_text().splitlines()]


def test_reply_loss_is_the_models_own_loss_on_the_reply_labels(workspace):
    import torch
    from transformers import AutoModelForCausalLM

    from tracegym.training.sft import Example, reply_loss, training_rows

    model = AutoModelForCausalLM.from_pretrained(workspace / "student")
    examples = [Example([2, 5, 6, 7], [8, 9, 1]), Example([2, 5], [10, 1])]
    rows = training_rows(examples)
    assert rows[1] == {"input_ids": [2, 5, 10, 1], "labels": [-100, -100, 10, 1]}
    width = max(len(row["input_ids"]) for row in rows)
    batch = {
        "input_ids": torch.tensor([r["input_ids"] + [0] * (width - len(r["input_ids"])) for r in rows]),
        "labels": torch.tensor([r["labels"] + [-100] * (width - len(r["labels"])) for r in rows]),
        "attention_mask": torch.tensor([[1] * len(r["input_ids"]) + [0] * (width - len(r["input_ids"])) for r in rows]),
    }
    with torch.no_grad():
        expected = model(**batch).loss
        assert torch.allclose(reply_loss(model, batch), expected, atol=1e-5)


def test_the_batch_sampler_gives_each_example_once_an_epoch_in_length_buckets():
    from tracegym.training.sft import BatchPlan, EpochBatches, Example

    examples = [Example([1] * (i % 7 + 1), [2]) for i in range(30)]
    sampler = EpochBatches(BatchPlan(examples, batch_size=4, seed=3))
    first, second = list(sampler), list(sampler)
    assert len(sampler) == 8 and len(first) == 8
    for epoch in (first, second):
        assert sorted(i for batch in epoch for i in batch) == list(range(30))
    assert first != second  # reshuffled each epoch


def test_sft_through_the_cli_lowers_the_loss_changes_the_weights_and_generates(workspace, sft_run):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out, summary = sft_run
    assert summary["steps"] == 25 and summary["stopped_by"] == "max_steps"
    log = log_of(out)
    assert [r["step"] for r in log] == [1, 5, 10, 15, 20, 25]
    assert log[-1]["loss"] < log[0]["loss"] - 1.0
    assert all(r["tokens_per_second"] > 0 for r in log)

    before = AutoModelForCausalLM.from_pretrained(workspace / "student").state_dict()
    after = AutoModelForCausalLM.from_pretrained(out)
    changed = [name for name, p in after.named_parameters() if not torch.equal(p, before[name])]
    assert len(changed) == len(list(after.parameters()))

    tokenizer = AutoTokenizer.from_pretrained(out)
    prompt = tokenizer.apply_chat_template(
        sft_rows(1)[0]["messages"], add_generation_prompt=True, return_tensors="pt", return_dict=True
    )
    generated = after.generate(**prompt, max_new_tokens=12, do_sample=False)
    reply = tokenizer.decode(generated[0, prompt["input_ids"].shape[1] :], skip_special_tokens=True)
    assert reply.strip()


def test_sft_is_seeded_and_stops_cleanly_on_its_time_budget(workspace, sft_run, tmp_path):
    result = run_cli(
        "sft",
        "--model_name",
        workspace / "student",
        "--train_jsonl",
        workspace / "train.jsonl",
        "--output_dir",
        tmp_path / "budget",
        "--max_steps",
        "25",
        "--max_minutes",
        "0.0001",
        *SFT_FLAGS,
        env=ONE_THREAD,
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["stopped_by"] == "max_minutes" and summary["steps"] == 1
    assert (tmp_path / "budget" / "model.safetensors").is_file() and (tmp_path / "budget" / "tokenizer.json").is_file()
    # Same seed, same first batch, same weights: the same first loss as the full run.
    assert log_of(tmp_path / "budget")[0]["loss"] == log_of(sft_run[0])[0]["loss"]


def test_bad_input_is_one_line_exit_2(workspace, tmp_path):
    missing = run_cli(
        "sft",
        "--model_name",
        workspace / "student",
        "--train_jsonl",
        tmp_path / "none.jsonl",
        "--output_dir",
        tmp_path / "out",
    )
    assert_user_error(missing, "--train_jsonl", "none.jsonl")

    write_jsonl(tmp_path / "bad.jsonl", [{"id": "a", "dialogue_id": "d", "turn_index": 1, "prompt": "hi"}])
    fields = run_cli(
        "sft",
        "--model_name",
        workspace / "student",
        "--train_jsonl",
        tmp_path / "bad.jsonl",
        "--output_dir",
        tmp_path / "out",
    )
    assert_user_error(fields, "record 0", "ground_truth")

    no_model = run_cli(
        "sft",
        "--model_name",
        tmp_path / "no_such_student",
        "--train_jsonl",
        workspace / "train.jsonl",
        "--output_dir",
        tmp_path / "out",
    )
    assert_user_error(no_model, "--model_name", "no_such_student", "tracegym student")

    student_missing = run_cli("student", "--train_jsonl", tmp_path / "none.jsonl", "--out_dir", tmp_path / "s")
    assert_user_error(student_missing, "--train_jsonl", "none.jsonl")
    assert not (tmp_path / "out").exists() and not (tmp_path / "s").exists()


@pytest.mark.parametrize("command", ["student", "sft"])
def test_help(command):
    result = run_cli(command, "--help")
    assert result.returncode == 0 and "--out" in result.stdout
