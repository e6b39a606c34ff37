#!/bin/sh
# embed.sh IN.EXT OUT.c -- turn a text file into a C source file that
# defines it as a string constant, for the worker to serve.
#
# For OUT = dir/NAME.c and an input named *.EXT (html for a page, js for
# a script) the output defines
#     const char NAME_EXT[]           the file's text, NUL-terminated
#     const size_t NAME_EXT_len       its length without the NUL
# and includes "NAME.h", which declares both.
#
# Each input line becomes one string literal ending in \n (adjacent
# literals concatenate).  Backslashes and double quotes are escaped, and
# so is '?', so that no trigraph (enabled by -std=c11) can form.  A CR at
# the end of a line is dropped, and a last line without a newline gets one.  The output is written to a temporary file
# and renamed, so an interrupted run never leaves a half-written OUT.
set -eu

if [ $# -ne 2 ]; then
    echo "usage: sh scripts/embed.sh IN.EXT OUT.c" >&2
    exit 2
fi
in=$1
out=$2
if [ ! -r "$in" ]; then
    echo "embed.sh: cannot read $in" >&2
    exit 1
fi

base=$(basename "$out" .c)
case $base in
    ''|[0-9]*|*[!A-Za-z0-9_]*)
        echo "embed.sh: $base is not a C identifier" >&2
        exit 1 ;;
esac
name=$(basename "$in")
ext=${name##*.}
case $ext in
    "$name"|''|*[!A-Za-z0-9]*)
        echo "embed.sh: $in needs an extension of letters and digits" >&2
        exit 1 ;;
esac
case $name in
    *'*/'*) name=input ;;     # would end the comment early
esac

# NUL bytes cannot live in a C string that is also measured by the user.
if od -An -v -tx1 "$in" | grep -q ' 00'; then
    echo "embed.sh: $in contains NUL bytes" >&2
    exit 1
fi

cr=$(printf '\r')
tmp="$out.tmp.$$"
trap 'rm -f "$tmp"' EXIT INT TERM

{
    printf '/* Generated from %s by scripts/embed.sh; do not edit: edit the\n' "$name"
    printf ' * %s instead (the Makefile regenerates this file). */\n' "$ext"
    printf '#include "%s.h"\n\n' "$base"
    printf 'const char %s_%s[] =\n' "$base" "$ext"
    if [ -s "$in" ]; then
        # $(...) drops the final newline, which sed leaves out when the
        # input's last line has none; printf puts it back either way.
        printf '%s\n' "$(sed -e "s/$cr\$//" \
            -e 's/\\/\\\\/g' \
            -e 's/"/\\"/g' \
            -e 's/?/\\?/g' \
            -e 's/^/    "/' \
            -e 's/$/\\n"/' \
            -e '$s/$/;/' "$in")"
    else
        printf '    "";\n'
    fi
    printf 'const size_t %s_%s_len = sizeof(%s_%s) - 1;\n' "$base" "$ext" "$base" "$ext"
} > "$tmp"
mv "$tmp" "$out"
trap - EXIT INT TERM
