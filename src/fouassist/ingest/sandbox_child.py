"""What runs in the reader process of `fouassist.ingest.sandbox`. The forkserver imports this module,
and with it the parsers, the word lists and the language dictionaries, once (seconds); every
reader process inherits them."""

from __future__ import annotations

import resource
import traceback
from multiprocessing.connection import Connection

import docx  # noqa: F401 - loaded here once, not in every reader process
import pypdf  # noqa: F401

from fouassist.ingest.cleaning import warm_word_lists
from fouassist.ingest.documents import ManifestEntry, read_document
from fouassist.ingest.read_limits import DocumentError, ReadLimits
from fouassist.language.analysis import Analyzer

_ANALYZER = Analyzer()
warm_word_lists()
_ANALYZER.detect_language("Vad säger strategin? Hva sier planen? Kva seier planen?")  # loads its dictionaries


def read(sender: Connection, name: str, data: bytes, manifest: dict[str, ManifestEntry] | None, title: str | None,
         limits: ReadLimits, memory_mb: int, cpu_s: int) -> None:
    """Read one document with `memory_mb` more address space than the process has now and `cpu_s`
    seconds of processor time (then SIGXCPU ends it), and send back ("document", Document), ("error", (source, reason, code)), ("memory", None) or ("crash", trace)."""
    with open("/proc/self/statm") as statm:
        address_space = int(statm.read().split()[0]) * resource.getpagesize()
    cap = address_space + memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_s, cpu_s + 1))
    try:
        sender.send(("document", read_document(name, data, _ANALYZER, manifest, title, limits)))
    except DocumentError as error:
        sender.send(("error", (error.source, error.reason, error.code)))
    except MemoryError:
        sender.send(("memory", None))
    except Exception:  # noqa: BLE001 - the parent logs it as an internal error
        sender.send(("crash", traceback.format_exc()))
    finally:
        sender.close()
