"""OpenAI's up-front token estimate, for `rate_limiting.token_charge: observed`.

The real API charges a request's TPM bucket before it counts tokens, from the characters it was sent. The recorded
answers (shared/data/captures) pin the estimate down exactly: x-ratelimit-remaining-tokens fell by
- chat: ceil(characters of the messages' text / 4) + one per message + 1, and 765 per image part
  (chat-basic 4, chat-json-mode 19, chat-multiturn 35, chat-tools 13: tools are not counted, chat-bad-request 2,
  chat-no-messages 1, chat-image-to-text 779);
- completions: ceil(characters / 4) + 1 per prompt, or the token count + 1 for a token prompt
  (completion-basic 23 with max_tokens 25 not counted, completion-token 32, completion-bad-request 1);
- embeddings: floor(characters / 4) over all inputs, or the token count for token inputs
  (embeddings-basic 6, embeddings-large-text 142, embeddings-whitespace 27, embeddings-bad-request 1).
Each function accepts any JSON body, valid or not: a 400 is charged too.
"""

from __future__ import annotations

from typing import Any

IMAGE_ESTIMATE = 765  # OpenAI's estimate for an image part, whatever its size (capture chat-image-to-text)


def _ceil_quarter(n: int) -> int:
    return -(-n // 4)


def chat(body: dict[str, Any]) -> int:
    messages = body.get("messages")
    if not isinstance(messages, list):
        return 1
    characters = images = 0
    for message in messages:
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, str):
            characters += len(content)
        elif isinstance(content, list):
            for part in content:
                if isinstance(part, dict) and isinstance(part.get("text"), str):
                    characters += len(part["text"])
                elif isinstance(part, dict) and part.get("type") == "image_url":
                    images += 1
    return _ceil_quarter(characters) + len(messages) + 1 + IMAGE_ESTIMATE * images


def completion(body: dict[str, Any]) -> int:
    prompt = body.get("prompt")
    if isinstance(prompt, str):
        return _ceil_quarter(len(prompt)) + 1
    if isinstance(prompt, list) and prompt and all(isinstance(t, int) for t in prompt):
        return len(prompt) + 1
    if isinstance(prompt, list):
        total = 0
        for item in prompt:
            if isinstance(item, str):
                total += _ceil_quarter(len(item)) + 1
            elif isinstance(item, list):
                total += len(item) + 1
        return total
    return 1


def embedding(body: dict[str, Any]) -> int:
    value = body.get("input")
    if isinstance(value, str):
        return len(value) // 4
    if isinstance(value, list) and value and all(isinstance(t, int) for t in value):
        return len(value)
    if isinstance(value, list):
        characters = tokens = 0
        for item in value:
            if isinstance(item, str):
                characters += len(item)
            elif isinstance(item, list):
                tokens += len(item)
        return characters // 4 + tokens
    return 0


def moderation(body: dict[str, Any]) -> int:
    """No capture of a moderation request's headers exists: assumed the embeddings rule (floor(characters / 4)) over
    the text inputs, plus the chat rule's 765 per image part."""
    value = body.get("input")
    if isinstance(value, str):
        return len(value) // 4
    if not isinstance(value, list):
        return 0
    characters = images = 0
    for item in value:
        if isinstance(item, str):
            characters += len(item)
        elif isinstance(item, dict):
            if item.get("type") == "image_url":
                images += 1
            elif isinstance(item.get("text"), str):
                characters += len(item["text"])
    return characters // 4 + IMAGE_ESTIMATE * images
