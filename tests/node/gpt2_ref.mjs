// gpt2_ref.mjs: reference GPT-2 token ids from js-tiktoken (an independent implementation).
// stdin: JSON array of base64-encoded byte strings. stdout: JSON array of id arrays.
// Bytes are decoded with TextDecoder (invalid UTF-8 -> U+FFFD per maximal subpart, the WHATWG
// rule), i.e. what a JavaScript (or Python errors='replace') pipeline feeds the tokenizer.
// Special tokens in the text are allowed and encoded as such (what HF tokenizers do).
import { getEncoding } from "js-tiktoken";
const enc = getEncoding("gpt2");
const dec = new TextDecoder("utf-8", { fatal: false, ignoreBOM: true });
let input = "";
process.stdin.setEncoding("utf8");
process.stdin.on("data", (d) => (input += d));
process.stdin.on("end", () => {
  const items = JSON.parse(input);
  const out = items.map((b64) => enc.encode(dec.decode(Buffer.from(b64, "base64")), "all"));
  process.stdout.write(JSON.stringify(out));
});
