/**
 * A POSIX locale such as `C` (WebKitGTK reports `LANG=C.UTF-8` as `navigator.language`
 * "C") is not a BCP 47 tag, and `Intl` throws on it: uPlot formats numbers with it as soon
 * as it loads, which would leave the window blank. Imported first, this swaps such a
 * language for "en-US" before anything reads it.
 */
export function usableLanguage(lang: string | undefined): string {
  if (!lang) return "en-US";
  try {
    return Intl.NumberFormat.supportedLocalesOf([lang]).length > 0 ? lang : "en-US";
  } catch {
    return "en-US";
  }
}

if (typeof navigator !== "undefined") {
  const lang = usableLanguage(navigator.language);
  if (lang !== navigator.language) {
    Object.defineProperty(navigator, "language", { get: () => lang, configurable: true });
    Object.defineProperty(navigator, "languages", { get: () => [lang], configurable: true });
  }
}
