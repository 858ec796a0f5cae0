import Foundation
import FinchTensor

/// The weights of a model folder: one `model.safetensors`, or shards listed by
/// `model.safetensors.index.json` (its `weight_map` names the file of every tensor).
public final class WeightStore: @unchecked Sendable {
    /// The folder the weights came from.
    public let folder: URL
    private let files: [String: SafetensorsFile]
    private let fileOfTensor: [String: String]

    public init(folder: URL) throws {
        self.folder = folder
        let index = folder.appendingPathComponent("model.safetensors.index.json")
        let single = folder.appendingPathComponent("model.safetensors")
        if FileManager.default.fileExists(atPath: index.path) {
            let json: Any
            do {
                json = try JSONSerialization.jsonObject(with: Data(contentsOf: index))
            } catch {
                throw CheckpointError(index, "not valid JSON (\(error.localizedDescription))")
            }
            guard let map = (json as? [String: Any])?["weight_map"] as? [String: String] else {
                throw CheckpointError(index, "missing \"weight_map\" (an object from tensor name to shard file)")
            }
            var files: [String: SafetensorsFile] = [:]
            for shard in Set(map.values).sorted() {
                guard !shard.contains("/") else { throw CheckpointError(index, "shard \"\(shard)\" is not a file name in this folder") }
                files[shard] = try SafetensorsFile(url: folder.appendingPathComponent(shard))
            }
            for (name, shard) in map where files[shard]?.entries[name] == nil {
                throw CheckpointError(folder.appendingPathComponent(shard), "index lists tensor \"\(name)\" here but the shard has no such tensor")
            }
            self.files = files
            self.fileOfTensor = map
        } else if FileManager.default.fileExists(atPath: single.path) {
            let file = try SafetensorsFile(url: single)
            self.files = ["model.safetensors": file]
            self.fileOfTensor = Dictionary(uniqueKeysWithValues: file.names.map { ($0, "model.safetensors") })
        } else if let pickled = ["pytorch_model.bin", "pytorch_model.bin.index.json", "model.pt", "model.pth"]
            .first(where: { FileManager.default.fileExists(atPath: folder.appendingPathComponent($0).path) }) {
            throw CheckpointError(folder, "has \(pickled) but no model.safetensors: Finch never loads pickled PyTorch files (unpickling can run code); "
                                  + "convert it once with transformers: AutoModel.from_pretrained(folder).save_pretrained(folder, safe_serialization=True)")
        } else {
            throw CheckpointError(folder, "no model.safetensors or model.safetensors.index.json in this folder")
        }
    }

    /// All tensor names, sorted.
    public var names: [String] { fileOfTensor.keys.sorted() }

    /// Whether a tensor exists.
    public func contains(_ name: String) -> Bool { fileOfTensor[name] != nil }

    /// The header entry of a tensor.
    public func entry(_ name: String) -> SafetensorsEntry? {
        fileOfTensor[name].flatMap { files[$0]?.entries[name] }
    }

    /// The file that holds a tensor (to read it in a dtype `tensor` does not convert, such as U8 bytes).
    public func file(holding name: String) -> SafetensorsFile? {
        fileOfTensor[name].flatMap { files[$0] }
    }

    /// A tensor as fp32, checked against the shape the model expects.
    public func tensor(_ name: String, shape expected: [Int]? = nil) throws -> Tensor {
        guard let shard = fileOfTensor[name], let file = files[shard] else {
            throw CheckpointError(folder, "missing weight \"\(name)\"")
        }
        let tensor = try file.tensor(name)
        if let expected, tensor.shape != expected {
            throw CheckpointError(file.url, "weight \"\(name)\" has shape \(tensor.shape) but the config implies \(expected)")
        }
        return tensor
    }
}
