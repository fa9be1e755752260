/**
 * The part of the ONNX protobuf schema (onnx/onnx.proto, IR version 7) that an exported
 * Convoy model uses, with the official field numbers, parsed once by protobufjs.
 *
 * Only the messages and fields the exporter writes are declared; as each keeps its official
 * number and type, the bytes written are a valid onnx.ModelProto for any ONNX reader.
 * NOTE: field numbers are the contract with every ONNX runtime: never renumber them.
 */
import protobuf from 'protobufjs';

/** IR version 7 is the one that introduced opset 13 (ONNX 1.8). */
export const ONNX_IR_VERSION = 7;
export const ONNX_OPSET_VERSION = 13;

export { AttributeType, TensorDataType } from './onnx-graph.js';

const ONNX_SUBSET_PROTO = `
syntax = "proto2";
package onnx;

message AttributeProto {
  optional string name = 1;
  optional float f = 2;
  optional int64 i = 3;
  optional bytes s = 4;
  repeated float floats = 7;
  repeated int64 ints = 8;
  optional int32 type = 20;
}

message ValueInfoProto {
  optional string name = 1;
  optional TypeProto type = 2;
  optional string doc_string = 3;
}

message NodeProto {
  repeated string input = 1;
  repeated string output = 2;
  optional string name = 3;
  optional string op_type = 4;
  repeated AttributeProto attribute = 5;
  optional string doc_string = 6;
  optional string domain = 7;
}

message StringStringEntryProto {
  optional string key = 1;
  optional string value = 2;
}

message ModelProto {
  optional int64 ir_version = 1;
  optional string producer_name = 2;
  optional string producer_version = 3;
  optional string domain = 4;
  optional int64 model_version = 5;
  optional string doc_string = 6;
  optional GraphProto graph = 7;
  repeated OperatorSetIdProto opset_import = 8;
  repeated StringStringEntryProto metadata_props = 14;
}

message GraphProto {
  repeated NodeProto node = 1;
  optional string name = 2;
  repeated TensorProto initializer = 5;
  optional string doc_string = 10;
  repeated ValueInfoProto input = 11;
  repeated ValueInfoProto output = 12;
}

message TensorProto {
  repeated int64 dims = 1;
  optional int32 data_type = 2;
  optional string name = 8;
  optional bytes raw_data = 9;
}

message TensorShapeProto {
  message Dimension {
    oneof value {
      int64 dim_value = 1;
      string dim_param = 2;
    }
  }
  repeated Dimension dim = 1;
}

message TypeProto {
  message Tensor {
    optional int32 elem_type = 1;
    optional TensorShapeProto shape = 2;
  }
  oneof value {
    Tensor tensor_type = 1;
  }
}

message OperatorSetIdProto {
  optional string domain = 1;
  optional int64 version = 2;
}
`;

// NOTE: AttributeProto.type is an enum in onnx.proto; an enum is a varint on the wire, so
// declaring it int32 here writes the same bytes without copying the whole enum.
// In proto2, repeated int64 `ints` and `dims` are NOT packed unless marked; protobufjs
// follows the proto2 default (unpacked), which is what onnx.proto declares too.

let root: protobuf.Root | undefined;

/** The parsed schema (parsed on first use). */
export function onnxRoot(): protobuf.Root {
  root ??= protobuf.parse(ONNX_SUBSET_PROTO, { keepCase: true }).root;
  return root;
}

export function onnxModelType(): protobuf.Type {
  return onnxRoot().lookupType('onnx.ModelProto');
}

// Plain-object shapes of the messages above (snake_case, as keepCase leaves them).

export interface OnnxAttribute {
  name: string;
  type: number;
  f?: number;
  i?: number;
  s?: Uint8Array;
  ints?: number[];
}

export interface OnnxNode {
  input: string[];
  output: string[];
  name: string;
  op_type: string;
  attribute: OnnxAttribute[];
}

export interface OnnxTensor {
  name: string;
  dims: number[];
  data_type: number;
  raw_data: Uint8Array;
}

export interface OnnxValueInfo {
  name: string;
  type: { tensor_type: { elem_type: number; shape: { dim: Array<{ dim_value: number } | { dim_param: string }> } } };
  doc_string?: string;
}

export interface OnnxGraph {
  name: string;
  node: OnnxNode[];
  initializer: OnnxTensor[];
  input: OnnxValueInfo[];
  output: OnnxValueInfo[];
  doc_string?: string;
}

export interface OnnxModel {
  ir_version: number;
  producer_name: string;
  producer_version: string;
  domain?: string;
  model_version?: number;
  doc_string?: string;
  graph: OnnxGraph;
  opset_import: Array<{ domain: string; version: number }>;
  metadata_props: Array<{ key: string; value: string }>;
}
