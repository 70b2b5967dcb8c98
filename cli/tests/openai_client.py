"""The official `openai` Python package against a running `dyno serve`.

Usage: python openai_client.py BASE_URL   (e.g. http://127.0.0.1:8000; the API key, if the
server has one, comes from DYNO_API_KEY). Waits up to 120 s for /health, then checks
completions and chat, streamed (with stream_options.include_usage) and not, and the error
mapping of the client (404 for an unknown model, 401 for a wrong key). Exits non-zero on the
first failed check.
"""

import os
import sys
import time
import urllib.error
import urllib.request

import openai


def wait_healthy(base: str, timeout_s: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with urllib.request.urlopen(base + "/health", timeout=5) as r:
                if r.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError):
            pass
        if time.monotonic() > deadline:
            sys.exit(f"{base}/health not 200 after {timeout_s} s")
        time.sleep(0.2)


def check_usage(usage, completion_tokens: int) -> None:
    assert usage is not None, "usage missing"
    assert usage.completion_tokens == completion_tokens, usage
    assert usage.prompt_tokens > 0, usage
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens, usage


def main() -> None:
    base = sys.argv[1].rstrip("/")
    wait_healthy(base)
    key = os.environ.get("DYNO_API_KEY") or "none"
    client = openai.OpenAI(base_url=base + "/v1", api_key=key, max_retries=0, timeout=120)
    extra = {"ignore_eos": True}

    model = client.models.list().data[0].id
    assert model, "no model listed"

    # Completions, not streamed.
    c = client.completions.create(
        model=model, prompt="Hello, world", max_tokens=8, temperature=0, extra_body=extra
    )
    assert c.object == "text_completion", c
    assert c.choices[0].text, "empty completion text"
    assert c.choices[0].finish_reason == "length", c.choices[0]
    check_usage(c.usage, 8)

    # Completions, streamed with the usage chunk.
    chunks = list(
        client.completions.create(
            model=model,
            prompt="Hello, world",
            max_tokens=8,
            temperature=0,
            stream=True,
            stream_options={"include_usage": True},
            extra_body=extra,
        )
    )
    *token_chunks, last = chunks
    assert last.choices == [], f"last chunk has choices: {last}"
    check_usage(last.usage, 8)
    assert len(token_chunks) == 8, f"{len(token_chunks)} token chunks"
    assert all(ch.usage is None for ch in token_chunks), "usage before the last chunk"
    streamed = "".join(ch.choices[0].text for ch in token_chunks)
    assert streamed == c.choices[0].text, (streamed, c.choices[0].text)

    # Chat, not streamed.
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Say something."},
    ]
    r = client.chat.completions.create(
        model=model, messages=messages, max_completion_tokens=6, temperature=0, extra_body=extra
    )
    assert r.choices[0].message.role == "assistant", r
    assert r.choices[0].message.content, "empty chat content"
    check_usage(r.usage, 6)

    # Chat, streamed with the usage chunk.
    chunks = list(
        client.chat.completions.create(
            model=model,
            messages=messages,
            max_completion_tokens=6,
            temperature=0,
            stream=True,
            stream_options={"include_usage": True},
            extra_body=extra,
        )
    )
    *token_chunks, last = chunks
    assert last.choices == [], f"last chunk has choices: {last}"
    check_usage(last.usage, 6)
    assert token_chunks[0].choices[0].delta.role == "assistant"
    content = "".join(ch.choices[0].delta.content or "" for ch in token_chunks)
    assert content == r.choices[0].message.content, (content, r.choices[0].message.content)
    assert token_chunks[-1].choices[0].finish_reason == "length"

    # The client's own error types for the server's statuses.
    try:
        client.completions.create(model="no-such-model", prompt="x", max_tokens=1)
        sys.exit("an unknown model was accepted")
    except openai.NotFoundError as e:
        assert "does not exist" in str(e), e
    try:
        client.completions.create(model=model, prompt="x", max_tokens=-1)
        sys.exit("max_tokens = -1 was accepted")
    except openai.BadRequestError as e:
        assert "max_tokens" in str(e), e
    if key != "none":
        wrong = openai.OpenAI(base_url=base + "/v1", api_key=key + "-wrong", max_retries=0)
        try:
            wrong.models.list()
            sys.exit("a wrong api key was accepted")
        except openai.AuthenticationError:
            pass

    print(f"openai {openai.__version__} against {base}: completions, chat and streams ok")


if __name__ == "__main__":
    main()
