"""pdf-fit: NNPDF4.0-style neural-network fit of proton PDFs to DIS data (see ``task.py``)."""
from mlhep.tasks.pdf.task import PdfFitTask

TASK = PdfFitTask()

__all__ = ["TASK", "PdfFitTask"]
