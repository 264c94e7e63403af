from govai_plugin.models.answers import AnswerJob
from govai_plugin.models.audit import AuditEvent
from govai_plugin.models.calibration import Calibration
from govai_plugin.models.clients import ApiClient, CollectionGrant
from govai_plugin.models.knowledge import Chunk, Collection, Document, IngestionJob, IngestionUpload
from govai_plugin.models.suggestions import CaseEvent, Suggestion

__all__ = ["AnswerJob", "ApiClient", "AuditEvent", "Calibration", "CaseEvent", "Chunk", "Collection", "CollectionGrant", "Document", "IngestionJob", "IngestionUpload",
           "Suggestion"]
