#!/usr/bin/env python3
"""Check a chat-notification body Hookrail will POST to Slack, Microsoft Teams or Discord.

Usage: python check_chat_payload.py slack|teams|discord < payload.json

Prints OK and exits 0 when the body is acceptable; otherwise prints one problem a line on
stderr and exits 1 (2 for a usage error).

- slack: the official slack_sdk parses every block and runs its own validators (to_dict
  validates nested elements too); whatever the SDK drops or rewrites while doing so (an unknown
  field, an unknown element, an empty value) is reported. A few documented Block Kit limits
  that slack_sdk 3.47.0 does not enforce are checked by hand.
- teams: the incoming-webhook / Workflows envelope, then the Adaptive Card, object by object,
  against Microsoft's official models (microsoft-teams-cards, generated from the Adaptive Card
  schema): strict types, enum values, unknown properties. No Microsoft package on the
  registries ships the current adaptive-card.json schema (see README.md), so the parts those
  models leave open (required properties, which types exist in Adaptive Cards 1.0-1.5 and from
  which version) are written out here from the schema.
- discord: Discord's documented execute-webhook limits, by hand (Discord ships no Python
  library; discord.py is a third-party bot framework).

Hookrail policy on top of the vendors' rules, for all three: a notification carries at least
one http(s) link, and every URL it carries is an absolute http(s) URL.
"""

import json
import re
import sys
from datetime import datetime
from typing import Any, Callable, Dict, List
from urllib.parse import urlparse


def is_http_url(value: Any) -> bool:
    if not isinstance(value, str) or any(c.isspace() for c in value):
        return False
    parsed = urlparse(value)
    return parsed.scheme in ("http", "https") and bool(parsed.netloc)


def check_keys(obj: dict, allowed: set, where: str, problems: List[str]) -> None:
    for key in obj:
        if key not in allowed:
            problems.append(f"{where}: unknown key {key!r} (allowed: {', '.join(sorted(allowed))})")


# --------------------------------------------------------------------------------------------
# Slack
# --------------------------------------------------------------------------------------------

# Top-level keys of an incoming-webhook body we send (attachments are legacy; we do not use them).
SLACK_TOP_LEVEL = {"text", "blocks", "mrkdwn", "unfurl_links", "unfurl_media", "thread_ts"}
SLACK_MAX_BLOCKS = 50  # per message
SLACK_MAX_TEXT = 40_000  # chat.postMessage truncates `text` beyond this
SLACK_MAX_SECTION_FIELD = 2_000  # each section field; slack_sdk does not check it
# <https://example.com|label> or <https://example.com>
SLACK_MRKDWN_LINK = re.compile(r"<(https?://[^|>\s]+)(?:\|[^>]*)?>")


def slack_sdk_differences(original: Any, sdk: Any, where: str, problems: List[str]) -> None:
    """Report what slack_sdk dropped or changed when it parsed `original` and wrote it back."""
    if isinstance(original, dict) and isinstance(sdk, dict):
        for key, value in original.items():
            if key not in sdk:
                problems.append(f"{where}.{key}: dropped by slack_sdk (unknown field, or an empty value Slack rejects)")
            else:
                slack_sdk_differences(value, sdk[key], f"{where}.{key}", problems)
    elif isinstance(original, list) and isinstance(sdk, list) and len(original) == len(sdk):
        for i, (a, b) in enumerate(zip(original, sdk)):
            if b is None and a is not None:
                problems.append(f"{where}[{i}]: dropped by slack_sdk (unknown element type {a.get('type') if isinstance(a, dict) else a!r})")
            else:
                slack_sdk_differences(a, b, f"{where}[{i}]", problems)
    elif original != sdk:
        problems.append(f"{where}: slack_sdk rewrote {original!r} as {sdk!r}")


def slack_text_objects(block: dict):
    """Yield (where, text object) for the text objects of the block kinds notifications use."""
    kind = block.get("type")
    if kind in ("section", "header") and isinstance(block.get("text"), dict):
        yield "text", block["text"]
    if kind == "section" and isinstance(block.get("fields"), list):
        for i, field in enumerate(block["fields"]):
            if isinstance(field, dict):
                yield f"fields[{i}]", field
    if kind == "context" and isinstance(block.get("elements"), list):
        for i, element in enumerate(block["elements"]):
            if isinstance(element, dict) and element.get("type") in ("mrkdwn", "plain_text"):
                yield f"elements[{i}]", element


def check_slack(body: Any, raw: bytes) -> List[str]:
    from slack_sdk.models.blocks import Block

    problems: List[str] = []
    if not isinstance(body, dict):
        return ["body: must be a JSON object"]
    check_keys(body, SLACK_TOP_LEVEL, "body", problems)

    text = body.get("text")
    if not isinstance(text, str) or not text.strip():
        problems.append("text: a non-empty string is required (the notification/fallback text)")
    elif len(text) > SLACK_MAX_TEXT:
        problems.append(f"text: {len(text)} characters, at most {SLACK_MAX_TEXT}")

    blocks = body.get("blocks")
    if not isinstance(blocks, list) or not blocks:
        problems.append("blocks: a non-empty list is required")
        return problems
    if len(blocks) > SLACK_MAX_BLOCKS:
        problems.append(f"blocks: {len(blocks)} blocks, at most {SLACK_MAX_BLOCKS}")

    links: List[str] = []
    for i, original in enumerate(blocks):
        where = f"blocks[{i}]"
        if not isinstance(original, dict):
            problems.append(f"{where}: must be an object")
            continue
        try:
            block = Block.parse(original)
        except Exception as err:  # the SDK's constructors raise on some malformed input
            problems.append(f"{where}: slack_sdk could not parse it: {type(err).__name__}: {err}")
            continue
        if block is None or type(block) is Block:
            problems.append(f"{where}: unknown block type {original.get('type')!r}")
            continue
        try:
            block.validate_json()
            # to_dict validates again, and also every nested element and text object.
            written = block.to_dict()
        except Exception as err:
            problems.append(f"{where} ({original.get('type')}): {err}")
            continue
        slack_sdk_differences(original, written, where, problems)

        # Documented limits slack_sdk does not check.
        if original.get("type") == "header":
            header_text = original.get("text")
            if isinstance(header_text, dict) and header_text.get("type") != "plain_text":
                problems.append(f"{where}.text: a header's text must be plain_text")
        if original.get("type") == "section":
            for j, field in enumerate(original.get("fields") or []):
                if isinstance(field, dict) and len(field.get("text") or "") > SLACK_MAX_SECTION_FIELD:
                    problems.append(f"{where}.fields[{j}].text: {len(field['text'])} characters, at most {SLACK_MAX_SECTION_FIELD}")

        # Links: buttons with a url, and mrkdwn <url|text> links.
        buttons = original.get("elements") if original.get("type") == "actions" else None
        for j, element in enumerate(buttons if isinstance(buttons, list) else []):
            if isinstance(element, dict) and "url" in element:
                if is_http_url(element["url"]):
                    links.append(element["url"])
                else:
                    problems.append(f"{where}.elements[{j}].url: not an absolute http(s) URL: {element['url']!r}")
        if original.get("type") == "section" and isinstance(original.get("accessory"), dict) and "url" in original["accessory"]:
            if is_http_url(original["accessory"]["url"]):
                links.append(original["accessory"]["url"])
            else:
                problems.append(f"{where}.accessory.url: not an absolute http(s) URL")
        for _, text_object in slack_text_objects(original):
            if text_object.get("type") == "mrkdwn":
                links.extend(SLACK_MRKDWN_LINK.findall(text_object.get("text") or ""))

    if not links:
        problems.append("no link: add a button with a url (actions block) or an mrkdwn <https://...|text> link")
    return problems


# --------------------------------------------------------------------------------------------
# Microsoft Teams (incoming webhook / Workflows "When a Teams webhook request is received")
# --------------------------------------------------------------------------------------------

TEAMS_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"
TEAMS_MAX_BYTES = 28 * 1024  # Teams' message size limit for webhook posts
TEAMS_VERSIONS = ("1.2", "1.3", "1.4", "1.5")  # Teams renders up to 1.5

# Adaptive Card types of schema versions 1.0-1.5 and the version that introduced each, from
# the Adaptive Card schema. microsoft-teams-cards also models later and host-specific types
# (charts, Carousel, Icon, layouts, ...); those are refused here, as Teams webhooks render
# 1.5 at most. Column, TableRow and TableCell are typed by their parents, so they never need
# looking up here.
TEAMS_ELEMENTS = {
    "TextBlock": "1.0", "Image": "1.0", "Container": "1.0", "ColumnSet": "1.0", "FactSet": "1.0",
    "ImageSet": "1.0", "Input.Text": "1.0", "Input.Number": "1.0", "Input.Date": "1.0",
    "Input.Time": "1.0", "Input.Toggle": "1.0", "Input.ChoiceSet": "1.0", "Media": "1.1",
    "ActionSet": "1.2", "RichTextBlock": "1.2", "Table": "1.5",
}
TEAMS_INLINES = {"TextRun": "1.2"}  # what a RichTextBlock's inlines may hold
TEAMS_ACTIONS = {
    "Action.OpenUrl": "1.0", "Action.Submit": "1.0", "Action.ShowCard": "1.0",
    "Action.ToggleVisibility": "1.2", "Action.Execute": "1.4",
}
TEAMS_LAYOUTS: Dict[str, str] = {}  # container layouts came after 1.5
# Required properties (by JSON name) from the Adaptive Card schema; the models make all optional.
TEAMS_REQUIRED = {
    "TextBlock": ["text"], "Image": ["url"],
    "Container": ["items"], "FactSet": ["facts"], "Fact": ["title", "value"],
    "ImageSet": ["images"], "ActionSet": ["actions"], "Media": ["sources"],
    "MediaSource": ["url"], "RichTextBlock": ["inlines"], "TextRun": ["text"],
    "TableCell": ["items"], "Input.Text": ["id"], "Input.Number": ["id"], "Input.Date": ["id"],
    "Input.Time": ["id"], "Input.Toggle": ["id", "title"], "Input.ChoiceSet": ["id"],
    "Choice": ["title", "value"], "Action.OpenUrl": ["url"], "Action.ShowCard": ["card"],
    "Action.ToggleVisibility": ["targetElements"],
}


class TeamsCardChecker:
    def __init__(self, version: str, problems: List[str]):
        from microsoft_teams.cards import core

        self.core = core
        self.version = version
        self.problems = problems
        self.links: List[str] = []
        # The slots the models type as a bare base class take any object with extra="allow";
        # this checker resolves the object's "type" to its concrete model instead.
        self.slots = {core.CardElement: TEAMS_ELEMENTS, core.Action: TEAMS_ACTIONS, core.ContainerLayout: TEAMS_LAYOUTS}
        self.models: Dict[Any, Dict[str, Any]] = {}
        for base in self.slots:
            self.models[base] = {}
            for model in self.subclasses(base):
                field = model.model_fields.get("type")
                default = field.default if field is not None else None
                if isinstance(default, str) and default not in self.models[base]:
                    self.models[base][default] = model

    @staticmethod
    def subclasses(cls):
        for sub in cls.__subclasses__():
            yield sub
            yield from TeamsCardChecker.subclasses(sub)

    def newer(self, since: str) -> bool:
        def key(v: str):
            return tuple(int(p) for p in v.split("."))

        return key(since) > key(self.version)

    def check_object(self, raw: Any, base: Any, where: str, known: Dict[str, str]) -> None:
        """Check one JSON object from a slot the models type as a bare base class."""
        what = {self.core.CardElement: "element", self.core.Action: "action", self.core.ContainerLayout: "layout"}[base]
        if not isinstance(raw, dict):
            self.problems.append(f"{where}: must be an object")
            return
        kind = raw.get("type")
        if not isinstance(kind, str):
            self.problems.append(f"{where}: a \"type\" is required")
            return
        if kind not in known:
            allowed = ", ".join(sorted(known)) or "none"
            self.problems.append(f"{where}: unknown {what} type {kind!r} here (Adaptive Cards 1.0-1.5 allow: {allowed})")
            return
        if self.newer(known[kind]):
            self.problems.append(f"{where}: {kind} needs Adaptive Cards {known[kind]}, the card declares version {self.version}")
        self.validate(self.models[base][kind], raw, where)

    def validate(self, model: Any, raw: dict, where: str, root: bool = False) -> bool:
        """Validate `raw` as `model`, then what it holds; False if `raw` itself did not validate."""
        from pydantic import ValidationError

        try:
            # JSON mode, strict, by the JSON names only: no "true" for true, no snake_case keys.
            instance = model.model_validate_json(json.dumps(raw), strict=True, by_alias=True, by_name=False)
        except ValidationError as err:
            for error in err.errors():
                loc = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error["loc"])
                self.problems.append(f"{where}{loc}: {error['msg']} (got {error.get('input')!r})")
            return False
        self.walk(instance, where, root)
        return True

    def walk(self, instance: Any, where: str, root: bool = False) -> None:
        kind = getattr(instance, "type", None)
        if not isinstance(kind, str):
            kind = type(instance).__name__  # Fact, Choice, MediaSource, ...: objects without a type
        for key in instance.model_extra or {}:
            if not (root and key == "$schema"):
                self.problems.append(f"{where}.{key}: unknown property of {kind}")
        fields = type(instance).model_fields
        for required in TEAMS_REQUIRED.get(kind, []):
            name = next((n for n, f in fields.items() if (f.validation_alias or n) == required), None)
            if name is None or getattr(instance, name) is None:
                self.problems.append(f"{where}: {kind} requires {required!r}")
        if kind == "Action.OpenUrl" and instance.url is not None:
            if is_http_url(instance.url):
                self.links.append(instance.url)
            else:
                self.problems.append(f"{where}.url: not an absolute http(s) URL: {instance.url!r}")
        for name, field in fields.items():
            key = field.validation_alias or name
            self.walk_value(getattr(instance, name), f"{where}.{key}", key)

    def walk_value(self, value: Any, where: str, key: str) -> None:
        from pydantic import BaseModel

        if isinstance(value, BaseModel):
            base = type(value)
            if base in self.slots:
                # A bare base model took the whole object in as extras: the object as sent.
                known = TEAMS_INLINES if key == "inlines" else self.slots[base]
                self.check_object(dict(value.model_extra or {}), base, where, known)
            else:
                self.walk(value, where)
        elif isinstance(value, list):
            for i, item in enumerate(value):
                self.walk_value(item, f"{where}[{i}]", key)


def check_teams(body: Any, raw: bytes) -> List[str]:
    problems: List[str] = []
    if len(raw) > TEAMS_MAX_BYTES:
        problems.append(f"body: {len(raw)} bytes, Teams accepts at most {TEAMS_MAX_BYTES}")
    if not isinstance(body, dict):
        return problems + ["body: must be a JSON object"]
    check_keys(body, {"type", "attachments"}, "body", problems)
    if body.get("type") != "message":
        problems.append('type: must be "message"')
    attachments = body.get("attachments")
    if not isinstance(attachments, list) or len(attachments) != 1:
        problems.append("attachments: must be a list holding exactly one Adaptive Card attachment")
        return problems
    attachment = attachments[0]
    if not isinstance(attachment, dict):
        return problems + ["attachments[0]: must be an object"]
    check_keys(attachment, {"contentType", "contentUrl", "content"}, "attachments[0]", problems)
    if attachment.get("contentType") != TEAMS_CONTENT_TYPE:
        problems.append(f"attachments[0].contentType: must be {TEAMS_CONTENT_TYPE!r}")
    if attachment.get("contentUrl") is not None:
        problems.append("attachments[0].contentUrl: must be absent or null (the card goes inline in content)")
    card = attachment.get("content")
    if not isinstance(card, dict):
        return problems + ["attachments[0].content: the Adaptive Card object is required"]

    if card.get("type") != "AdaptiveCard":
        problems.append('content.type: must be "AdaptiveCard"')
    version = card.get("version")
    if version not in TEAMS_VERSIONS:
        problems.append(f"content.version: {version!r}; Teams takes {', '.join(TEAMS_VERSIONS)} (1.4 recommended)")
        version = TEAMS_VERSIONS[-1]
    if "$schema" in card and not isinstance(card["$schema"], str):
        problems.append("content.$schema: must be a string when present")
    if not isinstance(card.get("body"), list) or not card["body"]:
        problems.append("content.body: a non-empty list of elements is required")

    from microsoft_teams.cards import core

    checker = TeamsCardChecker(version, problems)
    if checker.validate(core.AdaptiveCard, card, "content", root=True) and not checker.links:
        problems.append("no link: add an Action.OpenUrl with an http(s) url (in content.actions or an ActionSet)")
    return problems


# --------------------------------------------------------------------------------------------
# Discord (execute webhook)
# --------------------------------------------------------------------------------------------

DISCORD_TOP_LEVEL = {"content", "username", "avatar_url", "tts", "embeds", "allowed_mentions", "flags", "thread_name"}
DISCORD_EMBED_KEYS = {"title", "type", "description", "url", "timestamp", "color", "footer", "image", "thumbnail", "author", "fields"}
DISCORD_LIMITS = {"content": 2000, "title": 256, "description": 4096, "field.name": 256, "field.value": 1024,
                  "footer.text": 2048, "author.name": 256, "username": 80, "embeds": 10, "fields": 25, "total": 6000}
DISCORD_LINK = re.compile(r"https?://[^\s<>()\[\]]+")


def check_discord(body: Any, raw: bytes) -> List[str]:
    problems: List[str] = []
    if not isinstance(body, dict):
        return ["body: must be a JSON object"]
    check_keys(body, DISCORD_TOP_LEVEL, "body", problems)
    links: List[str] = []

    def text(obj: dict, key: str, where: str, limit: int, required: bool = False) -> str:
        if key not in obj or obj[key] is None:
            if required:
                problems.append(f"{where}.{key}: required")
            return ""
        value = obj[key]
        if not isinstance(value, str):
            problems.append(f"{where}.{key}: must be a string")
            return ""
        if required and not value.strip():
            problems.append(f"{where}.{key}: must not be empty")
        if len(value) > limit:
            problems.append(f"{where}.{key}: {len(value)} characters, at most {limit}")
        return value

    def url(obj: dict, key: str, where: str, attachment_ok: bool = False, required: bool = False) -> None:
        if key not in obj or obj[key] is None:
            if required:
                problems.append(f"{where}.{key}: required")
            return
        value = obj[key]
        if not (is_http_url(value) or (attachment_ok and isinstance(value, str) and value.startswith("attachment://"))):
            problems.append(f"{where}.{key}: not an absolute http(s) URL: {value!r}")

    content = text(body, "content", "body", DISCORD_LIMITS["content"])
    links.extend(DISCORD_LINK.findall(content))
    username = text(body, "username", "body", DISCORD_LIMITS["username"])
    if "username" in body and not username.strip():
        problems.append("body.username: must not be empty when present")
    url(body, "avatar_url", "body")
    if "tts" in body and not isinstance(body["tts"], bool):
        problems.append("body.tts: must be a boolean")

    mentions = body.get("allowed_mentions")
    # Hookrail policy: error text is not ours, so mentions it contains must never ping anyone.
    if not isinstance(mentions, dict):
        problems.append('allowed_mentions: required ({"parse": []}) so text from endpoints cannot ping @everyone, roles or users')
    else:
        check_keys(mentions, {"parse", "roles", "users", "replied_user"}, "allowed_mentions", problems)
        parse = mentions.get("parse")
        if not isinstance(parse, list) or any(p not in ("roles", "users", "everyone") for p in parse):
            problems.append('allowed_mentions.parse: a list of "roles", "users", "everyone" is required ([] for none)')
        elif parse:
            problems.append(f"allowed_mentions.parse: {parse!r}; Hookrail sends [] so nobody is pinged")

    embeds = body.get("embeds")
    if embeds is not None and not isinstance(embeds, list):
        problems.append("embeds: must be a list")
        embeds = []
    embeds = embeds or []
    if not content.strip() and not embeds:
        problems.append("body: content or embeds is required")
    if len(embeds) > DISCORD_LIMITS["embeds"]:
        problems.append(f"embeds: {len(embeds)} embeds, at most {DISCORD_LIMITS['embeds']}")

    total = 0
    for i, embed in enumerate(embeds):
        where = f"embeds[{i}]"
        if not isinstance(embed, dict):
            problems.append(f"{where}: must be an object")
            continue
        check_keys(embed, DISCORD_EMBED_KEYS, where, problems)
        if embed.get("type", "rich") != "rich":
            problems.append(f"{where}.type: webhooks send \"rich\" embeds")
        title = text(embed, "title", where, DISCORD_LIMITS["title"])
        description = text(embed, "description", where, DISCORD_LIMITS["description"])
        total += len(title) + len(description)
        links.extend(DISCORD_LINK.findall(description))
        if "url" in embed:
            url(embed, "url", where)
            if is_http_url(embed["url"]):
                links.append(embed["url"])
        if "color" in embed:
            color = embed["color"]
            if not isinstance(color, int) or isinstance(color, bool) or not 0 <= color <= 0xFFFFFF:
                problems.append(f"{where}.color: an integer 0..16777215 (0xFFFFFF) is required, got {color!r}")
        if "timestamp" in embed:
            stamp = embed["timestamp"]
            try:
                if not isinstance(stamp, str):
                    raise ValueError
                datetime.fromisoformat(stamp)
            except ValueError:
                problems.append(f"{where}.timestamp: an ISO 8601 timestamp is required, got {stamp!r}")
        for key in ("image", "thumbnail"):
            if key in embed:
                if isinstance(embed[key], dict):
                    check_keys(embed[key], {"url"}, f"{where}.{key}", problems)
                    url(embed[key], "url", f"{where}.{key}", attachment_ok=True, required=True)
                else:
                    problems.append(f"{where}.{key}: must be an object")
        if "footer" in embed:
            footer = embed["footer"]
            if isinstance(footer, dict):
                check_keys(footer, {"text", "icon_url"}, f"{where}.footer", problems)
                total += len(text(footer, "text", f"{where}.footer", DISCORD_LIMITS["footer.text"], required=True))
                url(footer, "icon_url", f"{where}.footer", attachment_ok=True)
            else:
                problems.append(f"{where}.footer: must be an object")
        if "author" in embed:
            author = embed["author"]
            if isinstance(author, dict):
                check_keys(author, {"name", "url", "icon_url"}, f"{where}.author", problems)
                total += len(text(author, "name", f"{where}.author", DISCORD_LIMITS["author.name"], required=True))
                url(author, "url", f"{where}.author")
                url(author, "icon_url", f"{where}.author", attachment_ok=True)
            else:
                problems.append(f"{where}.author: must be an object")
        fields = embed.get("fields", [])
        if not isinstance(fields, list):
            problems.append(f"{where}.fields: must be a list")
            fields = []
        if len(fields) > DISCORD_LIMITS["fields"]:
            problems.append(f"{where}.fields: {len(fields)} fields, at most {DISCORD_LIMITS['fields']}")
        for j, field in enumerate(fields):
            fwhere = f"{where}.fields[{j}]"
            if not isinstance(field, dict):
                problems.append(f"{fwhere}: must be an object")
                continue
            check_keys(field, {"name", "value", "inline"}, fwhere, problems)
            total += len(text(field, "name", fwhere, DISCORD_LIMITS["field.name"], required=True))
            value = text(field, "value", fwhere, DISCORD_LIMITS["field.value"], required=True)
            total += len(value)
            links.extend(DISCORD_LINK.findall(value))
            if "inline" in field and not isinstance(field["inline"], bool):
                problems.append(f"{fwhere}.inline: must be a boolean")
        if not any(embed.get(k) for k in ("title", "description", "fields", "author", "footer", "image", "thumbnail")):
            problems.append(f"{where}: empty embed (no title, description, fields, author, footer or image)")
    if total > DISCORD_LIMITS["total"]:
        problems.append(f"embeds: {total} characters in titles, descriptions, field names and values, footers and author names; at most {DISCORD_LIMITS['total']}")

    if not links:
        problems.append("no link: set an embed url, or put an http(s) link in content, a description or a field value")
    return problems


CHECKERS: Dict[str, Callable[[Any, bytes], List[str]]] = {"slack": check_slack, "teams": check_teams, "discord": check_discord}


def main(argv: List[str]) -> int:
    if len(argv) != 2 or argv[1] not in CHECKERS:
        print(f"usage: {argv[0]} {'|'.join(CHECKERS)} < payload.json", file=sys.stderr)
        return 2
    raw = sys.stdin.buffer.read()
    try:
        body = json.loads(raw)
    except ValueError as err:
        print(f"body: not JSON: {err}", file=sys.stderr)
        return 1
    problems = CHECKERS[argv[1]](body, raw)
    if problems:
        for problem in problems:
            print(problem, file=sys.stderr)
        return 1
    print("OK")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
