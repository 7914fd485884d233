// Adapters on trained models: LoRA (targets, files, fine-tuning, applying).
export { LORA_TARGET_GROUPS, resolveLoraTargets, exactPaths, type LoraTargetGroup, type ResolvedTargets } from './targets.js';
export { LORA_FILE, baseModelHash, saveLoraFile, readLoraFile, resolveLoraFile, type LoraFile, type LoraFileMeta } from './lora-file.js';
export { applyLoras, type LoraSpec, type AppliedLora } from './apply.js';
export { loadFrozenBase, reloadFrozenBase, type FrozenBase } from './base.js';
export { loadLoraBase, finetuneConfig, loraPreparer, exportLora, type LoraBase } from './finetune.js';
export { CONTROLNET_FILE, attachedControlNet, controlNetPreparer, controlledModelFn, controlKwargs, exportControlNet, loadControlNet, type LoadedControlNet } from './controlnet.js';
