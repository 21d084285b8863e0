from appliance.reader.descriptions import parse_description
from pipelines.prompts import FRAMING, Part, fit, prompt_parts


def words(text: str) -> int:
    return len(text.split())


def test_the_prompt_names_the_piece_metal_and_stones():
    spec = parse_description("14k rose gold halo ring with a 1.5 carat oval lab diamond, size 6").spec
    prompt, dropped = fit(prompt_parts(spec, "a gift", "thinner band", ["dmrstyle"]), words, limit=200)
    assert prompt.startswith("dmrstyle, a 14k rose gold halo")
    assert "1.5 carat oval lab-grown diamond centre stone" in prompt and "thinner band" in prompt
    assert FRAMING in prompt and dropped == []


def test_a_long_prompt_loses_whole_parts_least_important_first():
    spec = parse_description("platinum ring with a 1 carat round diamond and small diamonds on the band").spec
    long_words = "I would love something that reminds her of the sea " * 6
    prompt, dropped = fit(prompt_parts(spec, long_words, None, ["dmrstyle"]), words, limit=40)
    assert dropped[0] == long_words.strip()                      # the free words go first
    assert words(prompt) <= 40 and prompt.startswith("dmrstyle, a platinum 950")
    assert "centre stone" in prompt                              # the spec's essentials stay whole


def test_essentials_are_never_dropped():
    parts = [Part("one two three", 0), Part("four five", 3)]
    assert fit(parts, words, limit=2) == ("one two three", ["four five"])
