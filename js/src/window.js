// The cap on one text, as the Python runtime's TextModel applies it (runtime/textmodel.py, runtime/tokenizer.py
// text_window): the graph's work and memory grow with the whole string, so a text longer than
// MAX_TEXT_CHARS / 64 characters is cut to the end that holds its last max_len words (the words the model
// reads, unchanged), and one whose last max_len words are not within its last MAX_TEXT_CHARS characters is
// refused. Lengths are counted in Unicode code points, as Python's len counts them, not UTF-16 units.

/** The most characters (code points) of one text the graph is given. */
export const MAX_TEXT_CHARS = 1 << 20;
/** Texts longer than this are read from the end in chunks growing 4x. */
export const TAIL_CHARS = MAX_TEXT_CHARS / 64;

// Python's \s on str (str.isspace's characters), spelled out: JavaScript's \s differs (\ufeff in, \x1c-\x1f and \x85 out).
const SPACE = "\\t\\n\\v\\f\\r\\x1c-\\x20\\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000";
// Where a long text may be cut without changing its words (tokenizer.py _CUT): whitespace, the ASCII
// punctuation that is in no word or tag and composes with nothing under NFKC, and just before a "<".
const CUT = new RegExp(`[${SPACE}!"#$%&()*+,;?@\\[\\\\\\]_{|}~-]|(?=<)`, "g");
const HTML_TAG = new RegExp(`</?[a-z][a-z0-9]{0,9}[${SPACE}]*/?>`, "g");
const APOSTROPHES = /[\u2019\u2018\u02bc\u00b4`]/g;
// A word: a run of letters or digits with single apostrophes inside (Python's [^\W_]++(?:'[^\W_]++)*+)
const WORD = /[\p{L}\p{N}]+(?:'[\p{L}\p{N}]+)*/gu;
// eslint-disable-next-line no-control-regex
const ASCII = /^[\x00-\x7f]*$/;

/** The text as the tokenizer standardises it (tokenizer.py _normalize): NFKC, one apostrophe, lower case, tags gone. */
function normalize(text) {
  const nfkc = ASCII.test(text) ? text : text.normalize("NFKC");
  return nfkc.replace(APOSTROPHES, "'").toLowerCase().replace(HTML_TAG, " ");
}

/** How many words a standardised text holds, counting up to `n`. */
function countWords(normalized, n) {
  let count = 0;
  WORD.lastIndex = 0;
  while (WORD.exec(normalized)) count++;
  return Math.min(count, n);
}

/** Code points in a text. */
export function codePoints(text) {
  let pairs = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 0xd800 && c < 0xdc00 && i + 1 < text.length) {
      const d = text.charCodeAt(i + 1);
      if (d >= 0xdc00 && d < 0xe000) (pairs++, i++);
    }
  }
  return text.length - pairs;
}

/** The UTF-16 index where a text's last `count` code points start. */
function lastCodePoints(text, count) {
  let i = text.length;
  for (let seen = 0; seen < count && i > 0; seen++) {
    const c = text.charCodeAt(i - 1);
    i -= c >= 0xdc00 && c < 0xe000 && i >= 2 && text.charCodeAt(i - 2) >= 0xd800 && text.charCodeAt(i - 2) < 0xdc00 ? 2 : 1;
  }
  return i;
}

/** The part of a long text that holds its last n words, and how many words (up to n) it holds (tokenizer.py _window, last=True). */
function window(text, length, n) {
  for (let size = TAIL_CHARS; length > size; size *= 4) {
    CUT.lastIndex = lastCodePoints(text, size);
    const cut = CUT.exec(text);
    if (cut) {
      const part = text.slice(cut.index);
      const found = countWords(normalize(part), n);
      if (found > n - 1) return [part, found];
    }
  }
  return [text, countWords(normalize(text), n)];
}

/**
 * The part of a text a tokenizer keeping its last n words reads (tokenizer.py text_window, "pre"): the text
 * itself when it is short, has fewer than n words or nowhere to cut; its end, cut where no word changes,
 * otherwise; "" for a long text without words.
 */
export function textWindow(text, n) {
  if (text.length <= TAIL_CHARS || n < 1) return n >= 1 ? text : "";
  const length = codePoints(text);
  if (length <= TAIL_CHARS) return text;
  let [part, found] = window(text, length, n);
  if (found > 0 && found < n) part = window(text, length, found)[0];
  return found ? part : "";
}

/**
 * What the graph is given of text k: the text, or the end of one over TAIL_CHARS characters that holds its last
 * maxLen words (runtime/textmodel.py TextModel._window); `refuse(message)` makes the error for one with nowhere to cut.
 */
export function capText(text, k, maxLen, refuse) {
  if (text.length <= TAIL_CHARS) return text;
  const length = codePoints(text);
  if (length <= TAIL_CHARS) return text;
  const part = textWindow(text, maxLen);
  if (part.length > MAX_TEXT_CHARS && codePoints(part) > MAX_TEXT_CHARS) {
    const max = MAX_TEXT_CHARS.toLocaleString("en");
    throw refuse(
      `text ${k} is ${length.toLocaleString("en")} characters long and its last ${maxLen} words are not within its last ${max} ` +
        `(too few words, or no space or punctuation to cut at); the text model takes at most ${max} characters a text: ` +
        "send the end of the text that holds the words to score",
    );
  }
  return part;
}
