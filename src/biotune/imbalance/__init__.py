"""Class-imbalance tools: re-balancing samplers, class weights, and embedding-space oversampling
(SMOTE, conditional WGAN-GP) with quality control of the generated points."""
