import Foundation
import FinchPEFT

/// The files beside an exported script that start it on many GPUs: an accelerate config (YAML, as
/// `accelerate config` writes it) and a DeepSpeed ZeRO config (JSON, with "auto" for every value the
/// HF Trainer fills in from its TrainingArguments, so the two never disagree).
enum LaunchConfigs {
    /// accelerate's config for one node with every GPU; `accelerate launch --num_machines …` overrides
    /// the machine counts per launch. With DeepSpeed it points at the ZeRO JSON beside it.
    static func accelerate(_ launch: LaunchSetup) -> String {
        var lines = [
            "# accelerate launch --config_file \(LaunchSetup.accelerateConfigName) \(launch.scriptName)",
            "# Written by Finch (`export script`). Set num_processes to the GPUs of all machines together;",
            "# for several machines also num_machines, machine_rank, main_process_ip and main_process_port.",
            "compute_environment: LOCAL_MACHINE",
            "debug: false",
        ]
        if let zero = launch.deepspeed, let file = launch.deepspeedConfigName {
            lines += [
                "deepspeed_config:",
                "  deepspeed_config_file: \(file)",
                "  zero3_init_flag: \(zero == .zero3)",
                "distributed_type: DEEPSPEED",
            ]
        } else {
            lines.append("distributed_type: MULTI_GPU")
        }
        lines += [
            "downcast_bf16: 'no'",
            "gpu_ids: all",
            "machine_rank: 0",
            "main_training_function: main",
            "num_machines: 1",
            "num_processes: 8",
            "rdzv_backend: static",
            "same_network: true",
            "tpu_env: []",
            "tpu_use_cluster: false",
            "tpu_use_sudo: false",
            "use_cpu: false",
        ]
        return lines.joined(separator: "\n") + "\n"
    }

    /// A DeepSpeed ZeRO stage 2 or 3 config for the HF Trainer. No optimizer or scheduler section: the
    /// Trainer's AdamW (with its weight-decay groups) and schedule run as in Finch.
    static func deepspeed(_ zero: LaunchSetup.ZeRO) -> String {
        var zeroSection: [(String, String)] = [
            ("stage", "\(zero.stage)"),
            ("overlap_comm", "true"),
            ("contiguous_gradients", "true"),
            ("reduce_bucket_size", "\"auto\""),
        ]
        switch zero {
        case .zero2:
            zeroSection += [("allgather_partitions", "true"), ("allgather_bucket_size", "200000000"), ("reduce_scatter", "true")]
        case .zero3:
            zeroSection += [("stage3_prefetch_bucket_size", "\"auto\""), ("stage3_param_persistence_threshold", "\"auto\""),
                            ("stage3_max_live_parameters", "1000000000"), ("stage3_max_reuse_distance", "1000000000"),
                            ("stage3_gather_16bit_weights_on_model_save", "true")]
        }
        let body = zeroSection.map { "    \"\($0.0)\": \($0.1)" }.joined(separator: ",\n")
        return """
        {
          "bf16": {"enabled": "auto"},
          "fp16": {"enabled": "auto"},
          "zero_optimization": {
        \(body.split(separator: "\n").map { "  " + $0 }.joined(separator: "\n"))
          },
          "gradient_accumulation_steps": "auto",
          "gradient_clipping": "auto",
          "train_batch_size": "auto",
          "train_micro_batch_size_per_gpu": "auto",
          "steps_per_print": 100,
          "wall_clock_breakdown": false
        }

        """
    }
}

/// The run as an Axolotl config, for people who train with that tool. Only keys whose meaning is
/// exactly Finch's are written; what Axolotl cannot say (the label mapping, the split rows, the
/// classification head, Finch's data order) is listed in the comments at the top.
enum AxolotlConfig {
    static func generate(_ plan: ExportPlan) -> String {
        let o = plan.options
        func yaml(_ text: String) -> String { ExportPlan.quoted(text) }
        var lines = [
            "# The Finch run of \(plan.model) on \(plan.dataFile), as an Axolotl config (written by `export config`).",
            "# Only keys whose meaning is exactly Finch's are here. Axolotl has no place for:",
            "#   - the task: Finch trains a sequence classifier (labels \(plan.labelNames.joined(separator: ", ")) from column \(plan.labelColumn));",
            "#     Axolotl's dataset types are causal-LM prompt formats, so choose or write one for this data",
            "#   - Finch's split rows (use `export script` for those) and Finch's shuffled data order",
        ]
        if o.loss.classWeights != nil || o.loss.labelSmoothing > 0 { lines.append("#   - class weights and label smoothing of the classification loss") }
        if let bias = plan.method.loraConfiguration?.bias, bias != .none { lines.append("#   - LoRA bias=\(bias.rawValue) (the biases that train beside the adapters)") }
        if !o.modelDropout { lines.append("#   - model_dropout=false (turn the model's dropout off in its config.json)") }
        if o.patience != nil, !o.restoreBest { lines.append("#   - restore_best=false with patience (Axolotl's early stopping keeps the best)") }
        lines += [
            "base_model: \(yaml(plan.model))",
            "datasets:",
            "  - path: \(yaml(plan.dataFile))",
            "    ds_type: \(plan.format == "jsonl" ? "json" : "csv")",
            "sequence_len: \(o.maxLength)",
            "seed: \(o.seed)",
        ]
        switch plan.method {
        case let .lora(c):
            lines += ["adapter: lora"] + loraKeys(c, plan: plan)
        case let .qlora(c, format):
            lines += ["adapter: qlora", "load_in_4bit: true"] + loraKeys(c, plan: plan)
            if format.type.rawValue != "nf4" || !format.doubleQuantization || format.blockSize != 64 {
                lines.insert("#   - qlora quant=\(format.type.rawValue) double_quant=\(format.doubleQuantization) block=\(format.blockSize) (Axolotl's QLoRA is NF4, double-quantized, blocks of 64)", at: 5)
            }
        case .bitfit:
            lines.insert("#   - BitFit (training only the biases and the head): this config trains every weight", at: 5)
        case .full:
            break
        }
        lines += [
            "num_epochs: \(o.epochs)",
            "micro_batch_size: \(o.batchSize)",
            "gradient_accumulation_steps: \(o.accumulate)",
            "learning_rate: \(ExportPlan.number(o.learningRate, float: true))",
            "lr_scheduler: \(plan.scheduleName)",
            "optimizer: adamw_torch",
            "weight_decay: \(ExportPlan.number(o.weightDecay, float: true))",
            "max_grad_norm: \(ExportPlan.number(o.clip ?? 0, float: true))",
        ]
        if let steps = o.maxSteps { lines.append("max_steps: \(steps)") }
        switch o.warmup {
        case .steps(let steps): lines.append("warmup_steps: \(steps)")
        case .ratio(let ratio): lines.append("warmup_ratio: \(ExportPlan.number(ratio))")
        }
        if o.groupByLength { lines.append("group_by_length: true") }
        if plan.hasValidation, let every = o.evalEvery { lines.append("eval_steps: \(every)") }
        if let every = o.saveEvery { lines += ["save_steps: \(every)", "save_total_limit: \(o.keep)"] }
        if plan.hasValidation, o.evalEvery != nil, o.restoreBest || o.patience != nil {
            lines += ["load_best_model_at_end: true", "metric_for_best_model: \(o.best.rawValue)",
                      "greater_is_better: \(o.best.higherIsBetter)"]
            if let patience = o.patience { lines.append("early_stopping_patience: \(patience)") }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    private static func loraKeys(_ c: LoRAConfiguration, plan: ExportPlan) -> [String] {
        var lines = ["lora_r: \(c.rank)", "lora_alpha: \(ExportPlan.number(c.alpha))",
                     "lora_dropout: \(ExportPlan.number(c.dropout, float: true))"]
        switch c.targets {
        case .allLinear: lines.append("lora_target_linear: true")
        case .modules(let names): lines.append("lora_target_modules:\n" + names.map { "  - \(ExportPlan.quoted($0))" }.joined(separator: "\n"))
        }
        lines.append("lora_modules_to_save:\n" + plan.modulesToSave.map { "  - \(ExportPlan.quoted($0))" }.joined(separator: "\n"))
        if c.rankStabilized { lines.append("peft_use_rslora: true") }
        if c.useDoRA { lines.append("peft_use_dora: true") }
        return lines
    }
}
