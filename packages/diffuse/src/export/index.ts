export { OnnxGraph, ONNX_OPSET, readOnnxMetadata, type AttrValue, type Dim, type ElemType } from './onnx-graph.js';
export { unetToOnnx, ONNX_IO, type UNetOnnxOptions } from './unet-onnx.js';
export { onnxMetadata, type DiffuseOnnxMetadata } from './metadata.js';
