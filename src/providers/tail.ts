// Usage from the end of a JSON response without parsing all of it: every provider serialises its usage
// object after the content, so the last `"usage": {…}` (or `"usageMetadata"`) key in the tail is it.
// Inside JSON strings quotes are escaped, so `"usage"` followed by `:` can only be a key.

/** The object value of the last `"key": {…}` in `text`, or undefined. */
export function trailingObject(text: string, key: string): unknown {
  const needle = `"${key}"`;
  let at = text.lastIndexOf(needle);
  while (at !== -1) {
    let i = at + needle.length;
    while (i < text.length && text.charCodeAt(i) <= 32) i++;
    if (text.charCodeAt(i) === 58 /* : */) {
      i++;
      while (i < text.length && text.charCodeAt(i) <= 32) i++;
      return text.charCodeAt(i) === 123 /* { */ ? balancedObject(text, i) : undefined;
    }
    at = at === 0 ? -1 : text.lastIndexOf(needle, at - 1);
  }
  return undefined;
}

function balancedObject(text: string, open: number): unknown {
  let depth = 0;
  let inString = false;
  for (let i = open; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 92) i++;
      else if (c === 34) inString = false;
    } else if (c === 34) inString = true;
    else if (c === 123) depth++;
    else if (c === 125 && --depth === 0) {
      try {
        return JSON.parse(text.slice(open, i + 1));
      } catch {
        return undefined;
      }
    }
  }
  return undefined;
}
