"""The Dask+Bokeh bug the debugging scenario works around, reproduced in
process: a dashboard callback that raises inside Bokeh's patch_curdoc leaves
its document on the stack, and once that document is gone (or destroyed with
its session while something still holds it) every later curdoc() (and so
performance_report) fails."""

from __future__ import annotations

import gc

import pytest
from bokeh.document import Document
from bokeh.io import doc as bokeh_doc

from scenarios.debugging.diagnose import drop_destroyed_curdocs


def test_a_raising_callback_leaves_a_dead_curdoc_that_the_lab_drops():
    document = Document()
    with pytest.raises(KeyError):
        with bokeh_doc.patch_curdoc(document):
            raise KeyError("etl-burn")  # as the task-group graph's update raised
    del document
    gc.collect()
    try:
        with pytest.raises(RuntimeError, match="Patched curdoc has been previously destroyed"):
            bokeh_doc.curdoc()
        assert drop_destroyed_curdocs() == 1
        assert bokeh_doc.curdoc() is not None
    finally:
        bokeh_doc._PATCHED_CURDOCS[:] = [r for r in bokeh_doc._PATCHED_CURDOCS if r() is not None]


def test_a_destroyed_document_still_held_is_dropped_too():
    # The session ends (Document.destroy) but something keeps the document:
    # the weak reference stays alive and curdoc() hands out a destroyed one.
    document = Document()
    with pytest.raises(KeyError):
        with bokeh_doc.patch_curdoc(document):
            raise KeyError("etl-burn")
    session = object()  # what bokeh's ServerSession.destroy() does, minus the server
    document.callbacks.on_change_dispatch_to(session)
    document.destroy(session)
    try:
        with pytest.raises(AttributeError, match="_js_event_callbacks"):
            bokeh_doc.curdoc().callbacks._js_event_callbacks  # what performance_report reads
        assert drop_destroyed_curdocs() == 1
        assert bokeh_doc.curdoc() is not document
        assert bokeh_doc.curdoc().callbacks._js_event_callbacks is not None
    finally:
        bokeh_doc._PATCHED_CURDOCS[:] = [r for r in bokeh_doc._PATCHED_CURDOCS
                                         if r() is not None and r() is not document]
