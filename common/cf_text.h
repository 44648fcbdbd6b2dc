/*
 * cf_text.h - text that others wrote, shown to people: which code points a reader cannot see
 * or that change how the text around them reads, and how to show them instead.
 *
 * An unauthenticated caller chooses the access log's actor and resource id; an admin chooses
 * names, keys and values. Shown raw, an ESC starts a terminal escape sequence (that can hide,
 * recolour or fake rows), a CR or LF fakes a line, a bidirectional override (U+202E) reverses
 * what follows it and a zero-width character makes two names look alike. What coffer prints for
 * people (the coffer client's tables, lines and messages) goes through cf_text_escape(); JSON
 * for people and cofferd's JSON log lines go through cf_text_json_hidden(). JSON for programs
 * stays what the server sent.
 */
#ifndef CF_TEXT_H
#define CF_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cf_str.h"

/* True for a code point that is not shown as itself: the C0 controls (U+0000-001F), DEL and
 * the C1 controls (U+007F-009F), the bidirectional embeddings, overrides, isolates and marks
 * (U+061C, U+200E-200F, U+202A-202E, U+2066-2069), the zero-width and other invisible format
 * characters (U+00AD, U+034F, U+115F-1160, U+17B4-17B5, U+180B-180F, U+200B-200D, U+2060-206F,
 * U+3164, U+FEFF, U+FFA0, U+FFF0-FFFB, U+1BCA0-1BCA3, U+1D173-1D17A), the line and paragraph
 * separators (U+2028-2029) and the tag characters (U+E0000-E007F). Variation selectors are not
 * in the set: emoji need them. */
bool cf_text_hidden(uint32_t cp);

/* cf_text_escape() flags. */
enum {
    CF_TEXT_QUOTE = 1, /* also write '"' as \" (for text shown between double quotes) */
};

/* Appends s[0..len) to out as text a terminal shows as it is: printable ASCII and well-formed
 * UTF-8 that is not hidden stay as they are (accents, CJK, emoji); '\' becomes \\; LF, CR and
 * TAB become \n, \r and \t; other C0 controls and DEL become \xHH (ESC is \x1b, NUL \x00);
 * other hidden code points become \uHHHH (U+202E is \u202e, U+0085 \u0085) or \UHHHHHHHH above
 * U+FFFF; each byte that is not part of well-formed UTF-8 becomes \xHH. Hex digits are lower
 * case. What it writes is printable ASCII and visible UTF-8 only, and is unambiguous: the
 * escaped text reads back as the exact bytes. */
void cf_text_escape(struct cf_buf *out, const char *s, size_t len, unsigned flags);

/* Appends the JSON text json[0..len) to out with every hidden code point from U+007F up
 * written as a JSON escape (\u202e; a surrogate pair above U+FFFF) and each byte that is not
 * UTF-8 as \ufffd. The C0 controls are left to the encoder, which escapes them inside strings
 * (outside strings they are the text's own whitespace). For valid JSON the value is unchanged:
 * only its spelling is. */
void cf_text_json_hidden(struct cf_buf *out, const char *json, size_t len);

#endif
