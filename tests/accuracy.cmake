# Accuracy mode on real data (Debian's dataset-fashion-mnist) with the committed trained model.
add_test(NAME accuracy_fashion_mnist
         COMMAND ${KILN_PYTHON} ${CMAKE_SOURCE_DIR}/tests/accuracy/check_accuracy.py
                 $<TARGET_FILE:kiln_cli> ${CMAKE_SOURCE_DIR}/models/fashion_mnist_resnet.onnx
                 ${CMAKE_BINARY_DIR}/accuracy_work)
set_tests_properties(accuracy_fashion_mnist PROPERTIES LABELS "unit" TIMEOUT 900)
