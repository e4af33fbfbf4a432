"""One `APIRouter` per resource."""
