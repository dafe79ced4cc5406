"""Forward Analyze calls to a policy pack one at a time, from a process of its own.

`python -m preflight.relay <host:port>` reads framed AnalyzeRequests on stdin and writes the
pack's framed answers on stdout, in order, each call finished before the next starts: the pack
sees exactly the serial Remediate/Analyze sequence the engine sends. Why a process: while the
program runs, preflight's interpreter is busy registering resources, and a thread making one
blocking gRPC call after another there waits for the interpreter lock after every answer (up to
its 5 ms switch interval). preflight hands this relay whole batches of requests instead, with one
pipe write, and reads its answers in large chunks.

Frames: a request is `<u32 length><AnalyzeRequest bytes>`; an answer is `<u8 status><u32
length><payload>`, status 0 with AnalyzeResponse bytes, or 1 with `<status code name>\\t<details>`
(the relay then stops). A zero-length request, or the end of stdin, ends the relay.
"""

from __future__ import annotations

import struct
import sys
from typing import BinaryIO

ANALYZE_METHOD = "/pulumirpc.Analyzer/Analyze"
CALL_TIMEOUT_SECONDS = 300.0
OK, FAILED = 0, 1
_LENGTH = struct.Struct(">I")
_ANSWER_HEAD = struct.Struct(">BI")


def request_frame(request_bytes: bytes) -> bytes:
    return _LENGTH.pack(len(request_bytes)) + request_bytes


def read_exact(stream: BinaryIO, size: int) -> bytes | None:
    chunks, remaining = [], size
    while remaining:
        chunk = stream.read(remaining)
        if not chunk:
            return None
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def split_answers(buffer: bytearray) -> list[tuple[int, bytes]]:
    """Take every complete answer frame off the front of `buffer` (the rest stays for later)."""
    answers = []
    offset = 0
    while len(buffer) - offset >= _ANSWER_HEAD.size:
        status, length = _ANSWER_HEAD.unpack_from(buffer, offset)
        end = offset + _ANSWER_HEAD.size + length
        if len(buffer) < end:
            break
        answers.append((status, bytes(buffer[offset + _ANSWER_HEAD.size:end])))
        offset = end
    del buffer[:offset]
    return answers


def relay(address: str, requests: BinaryIO, answers: BinaryIO) -> int:
    import grpc

    options = [("grpc.max_receive_message_length", 400 * 1024 * 1024),
               ("grpc.max_send_message_length", 400 * 1024 * 1024)]
    with grpc.insecure_channel(address, options=options) as channel:
        analyze = channel.unary_unary(ANALYZE_METHOD)  # bytes in, bytes out: no (de)serialising here
        while True:
            head = read_exact(requests, _LENGTH.size)
            if head is None:
                return 0
            (length,) = _LENGTH.unpack(head)
            if length == 0:
                return 0
            request = read_exact(requests, length)
            if request is None:
                return 0
            try:
                status, payload = OK, analyze(request, timeout=CALL_TIMEOUT_SECONDS)
            except grpc.RpcError as error:
                status, payload = FAILED, f"{error.code().name}\t{error.details()}".encode()
            answers.write(_ANSWER_HEAD.pack(status, len(payload)) + payload)
            answers.flush()
            if status == FAILED:
                return 1


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m preflight.relay <host:port>", file=sys.stderr)
        return 2
    return relay(argv[0], sys.stdin.buffer, sys.stdout.buffer)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
