#!/usr/bin/python3
"""Independent reference decoder for the e2ee-backup container format v1.

Written from SPEC.md alone (plus c2sp.org/chunked-encryption, RFC 5869, RFC 9106).
Standard library + Debian 12's python3-cryptography and python3-argon2 only.
Run with /usr/bin/python3.  See README.md in this directory for the decisions taken
where SPEC.md leaves the behaviour open.

Usage:
  decode.py VECTORS.json                         container vectors (default kind)
  decode.py --kind key-codes VECTORS.json        backup key code vectors
  decode.py --kind kdf VECTORS.json              Argon2id / KEK vectors
  decode.py --kind cobblestone VECTORS.json      plain Cobblestone-256 (Wycheproof C2SP) vectors
  decode.py --file PATH (--key HEX | --key-code CODE | --password-file PATH)... [--max-output N]
            [--kdf-max-m M --kdf-max-t T --kdf-max-p P]
"""

import argparse
import hashlib
import hmac
import json
import re
import struct
import sys
import threading
import unicodedata
import zlib

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF, HKDFExpand

if hasattr(sys, "set_int_max_str_digits"):
    sys.set_int_max_str_digits(0)  # JSON integers of any length are valid JSON

# ---------------------------------------------------------------------------
# constants (SPEC §3, §4, §5, §6)

MAGIC = bytes.fromhex("894532454542 4B0A".replace(" ", ""))
assert MAGIC == b"\x89E2EEBK\n"
VERSION = 0x01
FLAG_COMPRESSED = 0x01
FLAG_PADDED = 0x02
FIXED_LEN = 13
CHECKSUM_LEN = 16
H_MIN, H_MAX = 112, 4096
N_MIN, N_MAX = 1, 8
SLOT_BACKUP_KEY = 0x01
SLOT_PASSWORD = 0x02
SLOT_LENGTHS = {SLOT_BACKUP_KEY: 80, SLOT_PASSWORD: 92}
INFO_BACKUP_KEY = b"e2ee-backup v1 backup-key slot"
INFO_PASSWORD = b"e2ee-backup v1 password slot"
ZERO_NONCE = bytes(12)

KDF_DEFAULT_MAX = {"m": 1048576, "t": 16, "p": 16}
ARGON2_P_MAX = (1 << 24) - 1

COB_INFO_PREFIX = b"c2sp.org/chunked-encryption@v1+AEAD_AES_256_GCM\x00"
COB_SALT = 24
COB_COMMIT = 32
COB_HDR = COB_SALT + COB_COMMIT  # 56
CHUNK_PT = 16384
TAG = 16
CHUNK_CT = CHUNK_PT + TAG  # 16400
MAX_CHUNKS = 1 << 38
TRAILING_TRIAL = 256

META_MAX = 65536
BLOCK_MAX = 1048576
GEN_MAX = (1 << 53) - 1
DEFAULT_MAX_OUTPUT = 1 << 40  # 1 TiB


class DecodeError(Exception):
    def __init__(self, code, detail=""):
        super().__init__(code, detail)
        self.code = code
        self.detail = detail


# ---------------------------------------------------------------------------
# primitives (SPEC §1)


def hkdf_sha512(ikm, salt, info, length):
    return HKDF(algorithm=hashes.SHA512(), length=length, salt=salt, info=info).derive(ikm)


def hkdf_expand_sha512(prk, info, length):
    return HKDFExpand(algorithm=hashes.SHA512(), length=length, info=info).derive(prk)


def argon2id(password_bytes, salt, m, t, p, out_len=32):
    import argon2.low_level as ll  # imported lazily: only needed for password slots / KDF vectors

    return ll.hash_secret_raw(
        secret=password_bytes,
        salt=salt,
        time_cost=t,
        memory_cost=m,
        parallelism=p,
        hash_len=out_len,
        type=ll.Type.ID,
        version=19,
    )


def padme(length):
    """SPEC §5.4."""
    if length < 2:
        return length
    e = length.bit_length() - 1  # floor(log2 L)
    s = e.bit_length()  # floor(log2 E) + 1  (E >= 1)
    step = 1 << (e - s)
    return (length + step - 1) // step * step


def u16(b, o):
    return struct.unpack_from(">H", b, o)[0]


def u32(b, o):
    return struct.unpack_from(">I", b, o)[0]


# ---------------------------------------------------------------------------
# header (SPEC §3)


def parse_header(data):
    """SPEC §3.3, steps 1-6 in order: fixed part present (TRUNCATED), magic, version, header
    length, (read H bytes: TRUNCATED), checksum, flags, slot count, each slot (prefix fits, body
    fits, known type, its type's length), exact fit, duplicate types."""
    n_avail = len(data)
    # step 1: a file shorter than the 13-byte fixed part is TRUNCATED, whatever its bytes are
    if n_avail < FIXED_LEN:
        raise DecodeError("TRUNCATED", "file shorter than the 13-byte fixed part")
    # step 2
    if bytes(data[:8]) != MAGIC:
        raise DecodeError("MALFORMED_HEADER", "bad magic")
    if data[8] != VERSION:
        raise DecodeError("UNSUPPORTED_VERSION", "version %d" % data[8])
    h = u16(data, 10)
    if not (H_MIN <= h <= H_MAX):
        raise DecodeError("MALFORMED_HEADER", "header length %d" % h)
    # step 3
    if n_avail < h:
        raise DecodeError("TRUNCATED", "file ends inside the header")
    header = bytes(data[:h])
    # step 4
    if hashlib.sha256(header[: h - CHECKSUM_LEN]).digest()[:CHECKSUM_LEN] != header[h - CHECKSUM_LEN :]:
        raise DecodeError("MALFORMED_HEADER", "checksum mismatch (corrupted)")
    flags = header[9]
    if flags & ~(FLAG_COMPRESSED | FLAG_PADDED):
        raise DecodeError("UNKNOWN_FLAG", "flags 0x%02x" % flags)
    n = header[12]
    if not (N_MIN <= n <= N_MAX):
        raise DecodeError("MALFORMED_HEADER", "slot count %d" % n)
    # step 5: each slot in order
    end = h - CHECKSUM_LEN
    pos = FIXED_LEN
    slots = []
    for j in range(n):
        if pos + 3 > end:
            raise DecodeError("MALFORMED_HEADER", "slot %d: its 3-byte prefix runs past H-16" % (j + 1))
        stype = header[pos]
        slen = u16(header, pos + 1)
        if pos + 3 + slen > end:
            raise DecodeError("MALFORMED_HEADER", "slot %d: its body runs past H-16" % (j + 1))
        if stype not in SLOT_LENGTHS:
            raise DecodeError("UNKNOWN_SLOT_TYPE", "slot %d type 0x%02x" % (j + 1, stype))
        if slen != SLOT_LENGTHS[stype]:
            raise DecodeError("MALFORMED_HEADER", "slot %d length %d" % (j + 1, slen))
        slots.append((stype, header[pos : pos + 3 + slen]))
        pos += 3 + slen
    # step 6
    if pos != end:
        raise DecodeError("MALFORMED_HEADER", "slots do not end at H-16")
    types = [s[0] for s in slots]
    if len(set(types)) != len(types):
        raise DecodeError("MALFORMED_HEADER", "duplicate slot type")
    return {"header": header, "H": h, "flags": flags, "slots": dict(slots)}


# ---------------------------------------------------------------------------
# key slots (SPEC §3.2, §3.4, §3.5)


def check_kdf_params(m, t, p, maxima=None):
    mx = dict(KDF_DEFAULT_MAX)
    if maxima:
        for k in ("m", "t", "p"):
            if maxima.get(k) is not None:
                mx[k] = int(maxima[k])
    if m < 1 or t < 1 or p < 1:
        raise DecodeError("KDF_PARAMS", "m, t, p must be >= 1")
    if p > ARGON2_P_MAX:
        raise DecodeError("KDF_PARAMS", "p > 2^24-1")
    if m < 8 * p:
        raise DecodeError("KDF_PARAMS", "m < 8p")
    if m > mx["m"] or t > mx["t"] or p > mx["p"]:
        raise DecodeError("KDF_PARAMS", "parameters above the decoder's maxima")


PASSWORD_UNICODE = "14.0.0"


def validate_password(password):
    """SPEC §3.5: a password MUST be non-empty, a valid Unicode string (no unpaired surrogate),
    and hold only code points that Unicode 14.0.0 assigns (General_Category other than Cn);
    otherwise it is refused with INVALID_ARGUMENT, never encoded with replacement characters.
    SPEC §7: checked when the caller hands the password over, before the file is read.  The
    Unicode check uses Python's own unicodedata, which must be at 14.0.0 (Python 3.11): another
    version cannot tell what 14.0.0 assigns."""
    if isinstance(password, bytes):
        try:
            password = password.decode("utf-8")
        except UnicodeDecodeError:
            raise DecodeError("INVALID_ARGUMENT", "password is not valid UTF-8")
    if not isinstance(password, str):
        raise DecodeError("INVALID_ARGUMENT", "password is not a string")
    if password == "":
        raise DecodeError("INVALID_ARGUMENT", "empty password")
    if any(0xD800 <= ord(c) <= 0xDFFF for c in password):
        raise DecodeError("INVALID_ARGUMENT", "password holds an unpaired surrogate")
    if any(ord(c) >= 0x80 for c in password) and unicodedata.unidata_version != PASSWORD_UNICODE:
        raise RuntimeError("needs Python's unicodedata at Unicode %s (Python 3.11), not %s"
                           % (PASSWORD_UNICODE, unicodedata.unidata_version))
    for i, c in enumerate(password, start=1):
        if unicodedata.category(c) == "Cn":
            raise DecodeError("INVALID_ARGUMENT", "password character %d, U+%04X, is not assigned in Unicode %s"
                              % (i, ord(c), PASSWORD_UNICODE))
    return password


def normalize_password(password):
    """UTF-8(NFC(password)), SPEC §3.5 (after validate_password)."""
    return unicodedata.normalize("NFC", validate_password(password)).encode("utf-8")


def kek_backup_key(backup_key, salt):
    return hkdf_sha512(backup_key, salt, INFO_BACKUP_KEY, 32)


def kek_password(password, salt, m, t, p):
    s = argon2id(normalize_password(password), salt, m, t, p, 32)
    return hkdf_expand_sha512(s, INFO_PASSWORD, 32)


def unwrap(kek, slot_bytes, wrapped_off):
    try:
        return AESGCM(kek).decrypt(ZERO_NONCE, slot_bytes[wrapped_off:], slot_bytes[:wrapped_off])
    except InvalidTag:
        return None


def open_backup_key_slot(slot, backup_key):
    salt = slot[3:35]
    return unwrap(kek_backup_key(backup_key, salt), slot, 35)


def open_password_slot(slot, password, kdf_maxima):
    m, t, p = u32(slot, 3), u32(slot, 7), u32(slot, 11)
    check_kdf_params(m, t, p, kdf_maxima)  # before Argon2id allocates anything
    salt = slot[15:47]
    return unwrap(kek_password(password, salt, m, t, p), slot, 47)


def recover_file_key(hdr, backup_key=None, password=None, kdf_maxima=None):
    """SPEC §3.5 (and §3.4: a password slot's parameters are checked only when a password is
    tried on it).  With both credentials the backup-key slot is tried first.  If neither opens,
    the error is WRONG_KEY when the backup has a backup-key slot (and a backup key was given),
    else the password slot's error (KDF_PARAMS or WRONG_PASSWORD), else NO_MATCHING_SLOT.  A slot
    opens when its tag verifies: its file key is the one, and no other slot is tried, even if
    the payload commitment then fails (HEADER_AUTH)."""
    if backup_key is None and password is None:
        raise ValueError("no credential given")
    slots = hdr["slots"]
    key_tried = backup_key is not None and SLOT_BACKUP_KEY in slots
    if key_tried:
        fk = open_backup_key_slot(slots[SLOT_BACKUP_KEY], backup_key)
        if fk is not None:
            return fk
    password_error = None
    if password is not None and SLOT_PASSWORD in slots:
        try:
            fk = open_password_slot(slots[SLOT_PASSWORD], password, kdf_maxima)
        except DecodeError as e:  # KDF_PARAMS, decided before Argon2id runs
            password_error = e
        else:
            if fk is not None:
                return fk
            password_error = DecodeError("WRONG_PASSWORD", "password slot tag fails")
    if key_tried:
        raise DecodeError("WRONG_KEY", "backup-key slot tag fails")
    if password_error is not None:
        raise password_error
    raise DecodeError("NO_MATCHING_SLOT", "no slot for the credential given")


# ---------------------------------------------------------------------------
# Cobblestone-256 (SPEC §4, c2sp.org/chunked-encryption)


def cobblestone_derive(input_key, salt, context):
    okm = hkdf_expand_sha512(input_key, COB_INFO_PREFIX + salt + context, 76)
    return okm[:32], okm[32:44], okm[44:76]


def chunk_nonce(base_nonce, i):
    return (int.from_bytes(base_nonce, "big") ^ i).to_bytes(12, "big")


def cobblestone_chunks(input_key, context, payload):
    """SPEC §4, front to back, steps 1-3 and failure(i, R).

    Raises DecodeError TRUNCATED / HEADER_AUTH / CHUNK_AUTH / TRAILING_DATA /
    MESSAGE_TOO_LARGE.  Yields (index, plaintext, is_final) for each authenticated chunk, so
    that the caller parses each chunk's plaintext before the next chunk is looked at (§5.5)."""
    total = len(payload)
    # step 1
    if total < COB_HDR:
        raise DecodeError("TRUNCATED", "payload shorter than 56 bytes")
    salt = bytes(payload[:COB_SALT])
    commitment = bytes(payload[COB_SALT:COB_HDR])
    key, base_nonce, expected = cobblestone_derive(input_key, salt, context)
    if not hmac.compare_digest(commitment, expected):
        raise DecodeError("HEADER_AUTH", "commitment mismatch")
    aead = AESGCM(key)
    mv = memoryview(payload)

    def opens(i, record):
        try:
            return aead.decrypt(chunk_nonce(base_nonce, i), bytes(record), None)
        except InvalidTag:
            return None

    def failure(i, record):
        # hi = min(|R| - 1, 16 399), lo = max(16, hi - 255): a valid final chunk of L bytes
        # followed by |R| - L bytes of trailing data is TRAILING_DATA, otherwise CHUNK_AUTH.
        hi = min(len(record) - 1, CHUNK_CT - 1)
        lo = max(TAG, hi - (TRAILING_TRIAL - 1))
        for length in range(hi, lo - 1, -1):
            if opens(i, record[:length]) is not None:
                return DecodeError(
                    "TRAILING_DATA", "valid final chunk %d of %d bytes, then trailing data" % (i, length)
                )
        return DecodeError("CHUNK_AUTH", "chunk %d fails authentication" % i)

    pos = COB_HDR
    i = 0
    # step 2: every record of 16 400 bytes is a full chunk, never the final one
    while total - pos >= CHUNK_CT:
        if i >= MAX_CHUNKS:
            raise DecodeError("MESSAGE_TOO_LARGE", "chunk counter reached 2^38")
        record = mv[pos : pos + CHUNK_CT]
        pt = opens(i, record)
        if pt is None:
            raise failure(i, record)
        yield i, pt, False
        pos += CHUNK_CT
        i += 1
    # step 3: the r bytes left are the short final chunk
    if i >= MAX_CHUNKS:
        raise DecodeError("MESSAGE_TOO_LARGE", "chunk counter reached 2^38")
    r = total - pos
    if r < TAG:
        raise DecodeError("TRUNCATED", "no short final chunk" if r == 0 else "final chunk shorter than its tag")
    record = mv[pos:]
    pt = opens(i, record)
    if pt is None:
        raise failure(i, record)
    yield i, pt, True


def cobblestone_decrypt(input_key, context, payload):
    if len(input_key) != 32:
        raise DecodeError("KEY_SIZE", "input key must be 32 bytes")
    out = bytearray()
    for _, pt, _ in cobblestone_chunks(input_key, context, payload):
        out += pt
    return bytes(out)


# ---------------------------------------------------------------------------
# plaintext framing (SPEC §5)

ISO_RE = re.compile(r"\A([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})(\.[0-9]{1,9})?Z\Z")


def valid_created(s):
    """SPEC §5.1: `YYYY-MM-DDTHH:MM:SS[.fraction]Z` (upper-case T and Z, ASCII digits, 1-9
    fraction digits) naming a real UTC instant from 1970 on: year >= 1970, month 01-12, a day
    that exists in that month (Gregorian leap years), hour 00-23, minute and second 00-59."""
    m = ISO_RE.match(s)
    if not m:
        return False
    y, mo, d, hh, mi, ss = (int(m.group(k)) for k in range(1, 7))
    if y < 1970 or not (1 <= mo <= 12):
        return False
    leap = y % 4 == 0 and (y % 100 != 0 or y % 400 == 0)
    dim = [31, 29 if leap else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][mo - 1]
    return 1 <= d <= dim and hh <= 23 and mi <= 59 and ss <= 59


class DuplicateMember(ValueError):
    pass


def _pairs_hook(pairs):
    """SPEC §5.1: unique member names in every object at every depth (names compared after
    unescaping, as strings)."""
    d = dict(pairs)
    if len(d) != len(pairs):
        seen = set()
        for k, _ in pairs:
            if k in seen:
                raise DuplicateMember("duplicate member name %r" % k)
            seen.add(k)
    return d


class JsonFloat(float):
    """A JSON number with a fraction or an exponent: the float value (as other JSON readers
    see it, for printing) plus its exact text, so that `generation` is judged by its value."""

    text = ""


def _parse_float(text):
    f = JsonFloat(text)
    f.text = text
    return f


def _reject_constant(name):
    raise ValueError("non-JSON constant " + name)


class JsonInt(int):
    """A JSON number without fraction or exponent, with its exact text (a sign included)."""

    text = ""


def _parse_int(text):
    i = JsonInt(text)
    i.text = text
    return i


WHOLE_NUMBER = re.compile(r"\A(?:0|[1-9][0-9]*)\Z")


def generation_value(gen):
    """SPEC §5.1: a JSON number written as a whole number, without sign, fraction or exponent
    (`0` or a digit 1-9 followed by digits), at most 2^53 - 1.  `1.0`, `1e3`, `-0` are not."""
    if not isinstance(gen, JsonInt) or not WHOLE_NUMBER.match(gen.text):
        return None
    return int(gen) if int(gen) <= GEN_MAX else None


def run_big_stack(fn, *args, **kwargs):
    """Runs fn in a thread with a big stack and a high recursion limit, so deeply nested (valid)
    JSON of up to 64 KiB can be parsed, copied and printed."""
    result = {}

    def run():
        old = sys.getrecursionlimit()
        try:
            sys.setrecursionlimit(max(old, 200000))
            result["v"] = fn(*args, **kwargs)
        except BaseException as e:  # noqa: BLE001 - re-raised in the caller
            result["e"] = e
        finally:
            sys.setrecursionlimit(old)

    old_size = threading.stack_size()
    threading.stack_size(512 * 1024 * 1024)
    try:
        th = threading.Thread(target=run)
        th.start()
        th.join()
    finally:
        threading.stack_size(old_size)
    if "e" in result:
        raise result["e"]
    return result["v"]


META_DEPTH_MAX = 64


def json_depth(text):
    """The deepest nesting of arrays and objects in JSON text (the outermost value is depth 1),
    counted on the text before it is parsed, so that no parser recursion goes deeper: brackets
    inside strings do not count."""
    depth = deepest = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth -= 1
    return deepest


def lone_surrogate(v):
    """Whether any string in the parsed value (member names included) holds a surrogate code
    point: json.loads turns an escaped pair into one code point, so only a lone half is left."""
    stack = [v]
    while stack:
        x = stack.pop()
        if isinstance(x, str):
            if any(0xD800 <= ord(c) <= 0xDFFF for c in x):
                return True
        elif isinstance(x, dict):
            stack.extend(x.keys())
            stack.extend(x.values())
        elif isinstance(x, list):
            stack.extend(x)
    return False


SET_NAME = re.compile(r"[A-Za-z0-9._-]{1,64}")


def parse_metadata(raw):
    """SPEC §5.1."""
    raw = bytes(raw)
    if raw.startswith(b"\xef\xbb\xbf"):
        raise DecodeError("MALFORMED_PAYLOAD", "metadata starts with a byte-order mark")
    try:
        text = raw.decode("utf-8")  # strict: invalid UTF-8 (incl. surrogates) fails
    except UnicodeDecodeError:
        raise DecodeError("MALFORMED_PAYLOAD", "metadata is not UTF-8")
    # RFC 8259: json.loads accepts exactly RFC 8259 white space (space, tab, LF, CR), rejects a
    # U+FEFF anywhere outside strings, control characters in strings (strict=True) and trailing
    # data; NaN/Infinity are refused by parse_constant.
    # SPEC §5.1: at most 64 levels of arrays and objects, the record itself being one.
    if json_depth(text) > META_DEPTH_MAX:
        raise DecodeError("MALFORMED_PAYLOAD", "metadata nests deeper than %d" % META_DEPTH_MAX)
    try:
        obj = json.loads(
            text,
            object_pairs_hook=_pairs_hook,
            parse_constant=_reject_constant,
            parse_float=_parse_float,
            parse_int=_parse_int,
        )
    except DuplicateMember as e:
        raise DecodeError("MALFORMED_PAYLOAD", "metadata: %s" % e)
    except ValueError:
        raise DecodeError("MALFORMED_PAYLOAD", "metadata is not JSON")
    # SPEC §5.1: strings are sequences of Unicode scalar values (I-JSON): no lone surrogate escape.
    if lone_surrogate(obj):
        raise DecodeError("MALFORMED_PAYLOAD", "metadata holds a lone surrogate")
    if not isinstance(obj, dict):
        raise DecodeError("MALFORMED_PAYLOAD", "metadata is not an object")
    if set(obj.keys()) - {"set"} != {"created", "generation", "app"}:
        raise DecodeError("MALFORMED_PAYLOAD", "metadata members %r" % sorted(obj.keys()))
    # SPEC §5.1: the optional backup set, 1-64 characters of A-Z a-z 0-9 . _ -
    if "set" in obj and not (isinstance(obj["set"], str) and SET_NAME.fullmatch(obj["set"])):
        raise DecodeError("MALFORMED_PAYLOAD", "set is not 1-64 characters of A-Z a-z 0-9 . _ -")
    created, gen, app = obj["created"], obj["generation"], obj["app"]
    if not isinstance(created, str) or not valid_created(created):
        raise DecodeError("MALFORMED_PAYLOAD", "bad created")
    gen = generation_value(gen)
    if gen is None:
        raise DecodeError("MALFORMED_PAYLOAD", "generation is not written as a whole number in [0, 2^53 - 1]")
    if not isinstance(app, dict):
        raise DecodeError("MALFORMED_PAYLOAD", "app is not an object")
    out = {"created": created, "generation": gen, "app": _plain(app)}
    if "set" in obj:
        out["set"] = obj["set"]
    return out


def _plain(v):
    """JSON-serialisable copy (non-finite floats become null, as JSON.stringify does)."""
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_plain(x) for x in v]
    if isinstance(v, float) and (v != v or v in (float("inf"), float("-inf"))):
        return None
    if isinstance(v, JsonInt):
        return int(v)
    return v


def inflate_exact(data, rlen):
    """One raw deflate stream that expands to exactly rlen bytes and ends exactly at the end
    of data.  Never produces more than rlen + 1 bytes."""
    d = zlib.decompressobj(-15)
    try:
        out = d.decompress(data, rlen)
        if len(out) == rlen and not d.eof:
            # output budget used up: the stream must end without producing another byte
            extra = d.decompress(d.unconsumed_tail, 1)
            if extra:
                raise DecodeError("MALFORMED_PAYLOAD", "deflate block expands beyond rlen")
        if not d.eof:
            raise DecodeError("MALFORMED_PAYLOAD", "deflate stream does not end")
    except zlib.error as e:
        raise DecodeError("MALFORMED_PAYLOAD", "invalid deflate data: %s" % e)
    if d.unused_data or d.unconsumed_tail:
        raise DecodeError("MALFORMED_PAYLOAD", "bytes after the end of the deflate stream")
    if len(out) != rlen:
        raise DecodeError("MALFORMED_PAYLOAD", "deflate block expands to %d, not %d" % (len(out), rlen))
    return out


class PlaintextParser:
    """Incremental SPEC §5 parser, fed the plaintext of each authenticated chunk in order
    (SPEC §5.5).  It reports a framing error as soon as the plaintext seen so far determines it
    (decision D3: a length field or block header once its bytes are in, a block's data and the
    metadata JSON once complete, each padding byte as it arrives); "ends early" errors come
    after the final chunk.  OUTPUT_LIMIT is decided from a block's declared length, after the
    block's range checks and before its data is read or inflated (SPEC §5.2)."""

    def __init__(self, compressed, padded, max_output):
        self.compressed = compressed
        self.padded = padded
        self.max_output = max_output
        self.buf = bytearray()
        self.off = 0  # read offset in buf
        self.consumed = 0  # plaintext bytes consumed before buf[0]
        self.state = "META_LEN"
        self.need = 4
        self.meta_len = 0
        self.metadata = None
        self.body_len = 0
        self.body_hash = hashlib.sha512()
        self.stored_left = 0
        self.clen = self.rlen = 0
        self.u = None  # bytes up to and including the end marker
        self.target = None  # required whole-plaintext length
        self.total = 0  # plaintext bytes fed

    def _take(self, n):
        b = bytes(self.buf[self.off : self.off + n])
        self.off += n
        return b

    def _avail(self):
        return len(self.buf) - self.off

    def _pos(self):
        return self.consumed + self.off

    def feed(self, data):
        self.total += len(data)
        if self.state == "PADDING":
            self._padding(data)
            return
        self.buf += data
        self._run()
        if self.off > (1 << 20):
            del self.buf[: self.off]
            self.consumed += self.off
            self.off = 0

    def _padding(self, data):
        # self.total already counts `data`
        if self.total > self.target:
            raise DecodeError("BAD_PADDING", "plaintext longer than required")
        if data.count(0) != len(data):
            raise DecodeError("BAD_PADDING", "non-zero padding byte")

    def _run(self):
        while True:
            st = self.state
            if st == "STORED_DATA":
                k = min(self.stored_left, self._avail())
                if k:
                    chunk = self._take(k)
                    self.body_hash.update(chunk)
                    self.body_len += k
                    self.stored_left -= k
                if self.stored_left:
                    return
                self.state, self.need = "KIND", 1
                continue
            if st == "PADDING":
                self._padding(self._take(self._avail()))
                return
            if self._avail() < self.need:
                return
            if st == "META_LEN":
                self.meta_len = u32(self._take(4), 0)
                if self.meta_len > META_MAX:
                    raise DecodeError("MALFORMED_PAYLOAD", "metadata length %d" % self.meta_len)
                self.state, self.need = "META", self.meta_len
            elif st == "META":
                self.metadata = parse_metadata(self._take(self.meta_len))
                self.state, self.need = "KIND", 1
            elif st == "KIND":
                kind = self._take(1)[0]
                if kind == 0x00:
                    self.u = self._pos()
                    self.target = padme(self.u) if self.padded else self.u
                    self.state = "PADDING"
                elif kind == 0x01:
                    self.state, self.need = "STORED_HDR", 4
                elif kind == 0x02:
                    if not self.compressed:
                        raise DecodeError("MALFORMED_PAYLOAD", "deflate block but COMPRESSED flag clear")
                    self.state, self.need = "DEFLATE_HDR", 8
                else:
                    raise DecodeError("MALFORMED_PAYLOAD", "block kind 0x%02x" % kind)
            elif st == "STORED_HDR":
                ln = u32(self._take(4), 0)
                if not (1 <= ln <= BLOCK_MAX):
                    raise DecodeError("MALFORMED_PAYLOAD", "stored block length %d" % ln)
                if self.body_len + ln > self.max_output:
                    raise DecodeError("OUTPUT_LIMIT", "body would exceed %d bytes" % self.max_output)
                self.stored_left = ln
                self.state = "STORED_DATA"
            elif st == "DEFLATE_HDR":
                hdr = self._take(8)
                self.clen, self.rlen = u32(hdr, 0), u32(hdr, 4)
                if not (1 <= self.rlen <= BLOCK_MAX):
                    raise DecodeError("MALFORMED_PAYLOAD", "deflate block rlen %d" % self.rlen)
                if not (1 <= self.clen < self.rlen):
                    raise DecodeError("MALFORMED_PAYLOAD", "deflate block clen %d" % self.clen)
                if self.body_len + self.rlen > self.max_output:
                    raise DecodeError("OUTPUT_LIMIT", "body would exceed %d bytes" % self.max_output)
                self.state, self.need = "DEFLATE_DATA", self.clen
            elif st == "DEFLATE_DATA":
                out = inflate_exact(self._take(self.clen), self.rlen)
                self.body_hash.update(out)
                self.body_len += len(out)
                self.state, self.need = "KIND", 1

    def finish(self):
        if self.state != "PADDING":
            raise DecodeError("MALFORMED_PAYLOAD", "plaintext ends before the end marker")
        if self.total != self.target:
            raise DecodeError("BAD_PADDING", "plaintext length %d, required %d" % (self.total, self.target))


# ---------------------------------------------------------------------------
# whole backup


def decode_backup(data, backup_key=None, password=None, kdf_maxima=None, max_output=None):
    """Returns the result dict; never raises DecodeError."""
    if max_output is None:
        max_output = DEFAULT_MAX_OUTPUT
    try:
        # SPEC §7: the caller's arguments first, before anything of the file is read.
        if backup_key is None and password is None:
            raise DecodeError("INVALID_ARGUMENT", "no credential given")
        if backup_key is not None and len(backup_key) != 32:
            raise DecodeError("INVALID_KEY_SIZE", "the backup key is %d bytes, not 32" % len(backup_key))
        if password is not None:
            password = validate_password(password)  # INVALID_ARGUMENT (SPEC §3.5)
        hdr = parse_header(data)
        file_key = recover_file_key(hdr, backup_key, password, kdf_maxima)
        parser = PlaintextParser(bool(hdr["flags"] & FLAG_COMPRESSED), bool(hdr["flags"] & FLAG_PADDED), max_output)
        payload = memoryview(data)[hdr["H"] :]
        for _, pt, _ in cobblestone_chunks(file_key, hdr["header"], payload):
            parser.feed(pt)
        parser.finish()
    except DecodeError as e:
        return {"result": "invalid", "error": e.code, "detail": e.detail}
    return {
        "result": "valid",
        "msgLength": parser.body_len,
        "msgSha512": parser.body_hash.hexdigest(),
        "metadata": parser.metadata,
    }


# ---------------------------------------------------------------------------
# backup key codes (SPEC Appendix A.4)

KEY_CODE_SEPARATORS = frozenset(" \t\n\r-")
HEX_DIGITS = frozenset("0123456789abcdefABCDEF")
KEY_CODE_MAX_UTF16 = 1024


class KeyFormatError(DecodeError):
    def __init__(self, reason, detail, position=None, digits=None):
        super().__init__("KEY_FORMAT", detail)
        self.reason = reason
        self.position = position
        self.digits = digits

    def fields(self):
        out = {"error": self.code, "reason": self.reason}
        if self.position is not None:
            out["position"] = self.position
        if self.digits is not None:
            out["digits"] = self.digits
        return out


def utf16_length(text):
    # a Python str from JSON holds code points; lone surrogates stay single code points
    return sum(2 if ord(c) > 0xFFFF else 1 for c in text)


def parse_key_code(code):
    """SPEC Appendix A.4: length in UTF-16 code units first, then a scan in code points (first
    bad character wins), then the digit count."""
    if utf16_length(code) > KEY_CODE_MAX_UTF16:
        raise KeyFormatError("length", "longer than 1024 UTF-16 code units")
    digits = []
    for idx, ch in enumerate(code, start=1):
        if ch in HEX_DIGITS:
            digits.append(ch)
        elif ch not in KEY_CODE_SEPARATORS:
            raise KeyFormatError("character", "U+%04X at position %d" % (ord(ch), idx), position=idx)
    if len(digits) != 64:
        raise KeyFormatError("digitCount", "%d hex digits, need 64" % len(digits), digits=len(digits))
    return bytes.fromhex("".join(digits))


# ---------------------------------------------------------------------------
# vector files


def _hex(s):
    return bytes.fromhex(s) if s else b""


def _field(test, group, *names):
    for src in (test, group):
        for n in names:
            if n in src:
                return src[n]
    return None


def _is_compressed(test, group):
    return bool(_field(test, group, "ctCompressed"))


def run_container_vectors(doc, path):
    results = []
    for group in doc.get("testGroups", []):
        g = {k: v for k, v in group.items() if k != "tests"}
        for t in group.get("tests", []):
            try:
                blob = _hex(_field(t, g, "ct"))
                if _is_compressed(t, g):  # ctCompressed: true (SPEC A.3)
                    blob = zlib.decompress(blob)
                key = _field(t, g, "key")
                password = _field(t, g, "password")
                bk = _hex(key) if isinstance(key, str) else None
                r = decode_backup(blob, bk, password, _field(t, g, "kdfMaxima"), _field(t, g, "maxOutputBytes"))
            except Exception as e:  # an input this decoder cannot even attempt: make it visible
                r = {"result": "error", "error": "REFERENCE_CANNOT_RUN", "detail": repr(e)}
            results.append({"tcId": t.get("tcId"), **r})
    return results


def run_cobblestone_vectors(doc, path):
    results = []
    for group in doc.get("testGroups", []):
        for t in group["tests"]:
            ct = zlib.decompress(_hex(t["ct"]))
            r = {"tcId": t["tcId"]}
            try:
                msg = cobblestone_decrypt(_hex(t["key"]), _hex(t.get("ctx", "")), ct)
            except DecodeError as e:
                r.update(result="invalid", error=e.code, detail=e.detail)
            else:
                r.update(result="valid", msgLength=len(msg), msgSha512=hashlib.sha512(msg).hexdigest())
            results.append(r)
    return results


def run_key_code_vectors(doc, path):
    results = []
    for group in doc.get("testGroups", []):
        for t in group["tests"]:
            r = {"tcId": t.get("tcId")}
            try:
                key = parse_key_code(t["code"])
            except KeyFormatError as e:
                r.update(result="invalid", **e.fields(), detail=e.detail)
            else:
                r.update(result="valid", key=key.hex())
            results.append(r)
    return results


def run_kdf_vectors(doc, path):
    results = []
    for group in doc.get("testGroups", []):
        gtype = group.get("type")
        for t in group["tests"]:
            r = {"tcId": t.get("tcId")}
            try:
                if gtype == "BackupKeyKek" or ("backupKey" in t and "password" not in t):
                    kek = kek_backup_key(_hex(t["backupKey"]), _hex(t["salt"]))
                    r.update(result="valid", kek=kek.hex())
                else:
                    m, tt, p = t["m"], t["t"], t["p"]
                    try:
                        pw = normalize_password(t["password"])  # our own NFC, not the file's passwordUtf8
                    except DecodeError as e:  # INVALID_ARGUMENT: empty, or not a Unicode string
                        r.update(result="invalid", error=e.code, detail=e.detail)
                        results.append(r)
                        continue
                    r["passwordUtf8"] = pw.hex()
                    try:
                        check_kdf_params(m, tt, p, t.get("kdfMaxima"))
                    except DecodeError as e:
                        r.update(result="invalid", error=e.code, detail=e.detail)
                    else:
                        s = argon2id(pw, _hex(t["salt"]), m, tt, p, 32)
                        kek = hkdf_expand_sha512(s, INFO_PASSWORD, 32)
                        r.update(result="valid", argon2id=s.hex(), kek=kek.hex())
            except Exception as e:  # noqa: BLE001
                r.update(result="error", error="REFERENCE_CANNOT_RUN", detail=repr(e))
            results.append(r)
    return results


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("vectors", nargs="?")
    ap.add_argument("--kind", default="container", choices=["container", "key-codes", "kdf", "cobblestone"])
    ap.add_argument("--file")
    ap.add_argument("--key")
    ap.add_argument("--key-code")
    ap.add_argument("--password-file")
    ap.add_argument("--max-output", type=int)
    ap.add_argument("--kdf-max-m", type=int)
    ap.add_argument("--kdf-max-t", type=int)
    ap.add_argument("--kdf-max-p", type=int)
    ap.add_argument("--detail", action="store_true", help="keep the free-text 'detail' of each verdict")
    args = ap.parse_args(argv)

    def strip(obj):
        if not args.detail:
            obj.pop("detail", None)
            obj.pop("passwordUtf8", None)  # our own UTF-8(NFC(password)), shown with --detail
        return obj

    if args.file:
        with open(args.file, "rb") as f:
            data = f.read()
        bk = pw = None
        if args.key:
            bk = bytes.fromhex(args.key)
            if len(bk) != 32:
                ap.error("--key must be 64 hex digits")
        if args.key_code:
            try:
                bk = parse_key_code(args.key_code)
            except DecodeError as e:
                ap.error("bad --key-code: %s" % e.detail)
        if args.password_file:
            with open(args.password_file, "rb") as f:
                raw = f.read()
            # decision D12 (the CLI's rule): the first line, up to the first LF, without one CR
            # just before it
            raw = raw.split(b"\n", 1)[0]
            if raw.endswith(b"\r"):
                raw = raw[:-1]
            try:
                pw = raw.decode("utf-8")
            except UnicodeDecodeError:
                ap.error("password file is not UTF-8")
        if bk is None and pw is None:
            ap.error("give --key, --key-code or --password-file")
        maxima = {k: v for k, v in (("m", args.kdf_max_m), ("t", args.kdf_max_t), ("p", args.kdf_max_p)) if v is not None}
        out = strip(decode_backup(data, bk, pw, maxima or None, args.max_output))
        json.dump(out, sys.stdout, ensure_ascii=True)
        sys.stdout.write("\n")
        return 0

    if not args.vectors:
        ap.error("give a vector file or --file")
    with open(args.vectors) as f:
        doc = json.load(f)
    runner = {
        "container": run_container_vectors,
        "key-codes": run_key_code_vectors,
        "kdf": run_kdf_vectors,
        "cobblestone": run_cobblestone_vectors,
    }[args.kind]
    json.dump({"results": [strip(r) for r in runner(doc, args.vectors)]}, sys.stdout, ensure_ascii=True)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(run_big_stack(main))
