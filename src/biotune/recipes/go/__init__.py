"""GO recipe: Gene Ontology function prediction (TALE's CAFA3-era test sets) as hierarchical multi-label datasets."""
